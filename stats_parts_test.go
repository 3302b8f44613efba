package ckpt

import (
	"context"
	"testing"
)

// Stats named its parts by their buckets alone ("threads/*/cp",
// "threads/*/ls"): nothing said a newcomer reading `ckpt stats` or the
// browser's stats page what each one holds. Every part now says it
// (BucketStats.What, from the layout's own description in
// bucket_layout.go).
func TestStatsSaysWhatEachPartHolds(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	putChain(t, s, "t", "", 4)
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"meta":          "the file's format and its binding to the write-ahead log",
		"index":         "every checkpoint in time order, across threads",
		"threads/*/cp":  "checkpoint records (channel versions, parent)",
		"threads/*/md":  "metadata",
		"threads/*/wr":  "pending writes",
		"threads/*/bl":  "channel values",
		"threads/*/ids": "each thread's history order, and its pending writes' counts",
		"threads/*/ls":  "list items stored as append-deltas",
	}
	for _, b := range st.Buckets {
		if b.What == "" {
			t.Errorf("part %s: no description", b.Name)
		} else if w, ok := want[b.Name]; ok && b.What != w {
			t.Errorf("part %s: %q, want %q", b.Name, b.What, w)
		}
	}
}
