package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// TestVerifyJSONNamesThatAreNotUTF8: verify --json named a problem's
// thread and namespace as they are, and a name that is not UTF-8 came out
// with U+FFFD in place of its bytes: a thread no command could be given
// back (threads, log, show and diff print it Go-quoted since 3a4ad52).
// The problem here: a checkpoint's history-order entry deleted.
func TestVerifyJSONNamesThatAreNotUTF8(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "names.db")
	const bad, ns = "b\xff", "n\xfe"
	s, err := ckpt.Open(db, ckpt.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	vs := map[string]string{"x": "1"}
	if _, err := s.Put(context.Background(), ckpt.Config{ThreadID: bad, CheckpointNS: ns},
		ckpt.Checkpoint{ChannelValues: map[string]any{"x": 1}, ChannelVersions: vs}, ckpt.Metadata{"step": 1}, vs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("threads")).Bucket([]byte(bad)).Bucket([]byte("ids"))
		k, _ := b.Cursor().First()
		return b.Delete(k)
	})
	if cerr := bdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "verify", "--json", db)
	if r.code == 0 {
		t.Fatalf("verify of a file with an order entry deleted succeeded:\n%s", r)
	}
	if strings.Contains(r.stdout, "\ufffd") || strings.Contains(r.stdout, `\ufffd`) {
		t.Fatalf("U+FFFD in the output:\n%s", r)
	}
	rep := decodeJSON[struct {
		Problems []struct {
			Thread string `json:"thread"`
			NS     string `json:"ns"`
		} `json:"problems"`
	}](t, r)
	named, thread, nsArg := false, "", ""
	for _, p := range rep.Problems {
		if p.Thread == "" {
			continue
		}
		named, thread, nsArg = true, p.Thread, p.NS
		if p.Thread != `"b\xff"` || p.NS != "" && p.NS != `"n\xfe"` {
			t.Errorf("problem names thread %q ns %q, want them Go-quoted", p.Thread, p.NS)
		}
	}
	if !named {
		t.Fatalf("no problem names the thread:\n%s", r)
	}
	// The printed names are taken back: log finds the thread and the
	// namespace, and refuses the damage.
	failsWith(t, runIn(t, dir, "", "log", "--ns", nsArg, db, thread), 1, `missing from the thread's history order`)
}
