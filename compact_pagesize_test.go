package ckpt_test

import (
	"fmt"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// A file made with a page size of its own (Options.Bolt.PageSize, which
// bbolt takes only when it creates the file: a store of many short
// threads, each a page at least, is three times smaller on 1 KiB pages)
// keeps that page size through a compaction. Compact rewrote it at the
// system's page size, whatever the file's: 5,000 one-checkpoint threads
// on 1 KiB pages, 7.2 MiB, "compacted" to 20.3 MiB ("grew by 13.1 MiB").
// The store that compacts is opened without the option, as `ckpt compact`
// opens it.
func TestCompactKeepsTheFilesPageSize(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/p.db"
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync, Bolt: &bolt.Options{PageSize: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if _, err := s.Save(ctx, fmt.Sprintf("thread-%04d", i), map[string]any{"n": i}, ckpt.Metadata{"step": 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, page := dataPages(t, path)
	if page != 1024 {
		t.Fatalf("the file was made with %d-byte pages, want 1024", page)
	}
	s, err = ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := dumpAll(t, s)
	st, err := s.Compact(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if after := dumpAll(t, s); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("compaction changed the data:\n%v\nwant\n%v", after, before)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, page := dataPages(t, path); page != 1024 {
		t.Errorf("after compaction the file has %d-byte pages, want the 1024 it was made with", page)
	}
	if st.BytesAfter > st.BytesBefore {
		t.Errorf("compaction grew the file from %d to %d bytes", st.BytesBefore, st.BytesAfter)
	}
	boltCheck(t, path)
}
