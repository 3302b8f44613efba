package ckpt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestALogOfVersion1BesideAStaleBindingReplays: what a build that does not
// bind its log leaves behind a build that does: the file's binding names
// the log of the last build that bound one, with the mark of then, and
// the mark has moved on since with a log of another identity (the old
// build's, killed with groups not yet applied). That log is of version 1
// (the builds that do not bind write no later one), and Open replays it:
// every checkpoint reads back, read-only and read-write. The same file
// beside that log in the version this build writes is refused: a build
// that writes it binds its log before it appends, so the binding cannot
// be stale beside it (h161_raised_foreign_log_test.go).
func TestALogOfVersion1BesideAStaleBindingReplays(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	held := saveN(t, s, "b", 0, 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var stale []byte
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		stale = bytes.Clone(tx.Bucket(bucketMeta).Get(keyWALLog))
		return nil
	})
	staleMark := readMark(t, path)
	u := openUnappliedWith(t, path, Options{})
	held = append(held, saveN(t, u, "b", 4, 3)...)
	applyNow(t, u)
	held = append(held, saveN(t, u, "b", 7, 3)...)
	cp := crashCopy(t, u)
	if m := readMark(t, cp); m <= staleMark {
		t.Fatalf("the mark is %d, the stale binding's %d: want it moved on", m, staleMark)
	}
	editClosedFile(t, cp, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyWALLog, stale)
	})
	log, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if len(logSpans(t, cp+walSuffix)) == 0 {
		t.Fatal("the log holds no group past the mark")
	}
	if _, err := Open(cp, Options{ReadOnly: true}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("a log of version 5 beside a stale binding: read-only Open = %v, want ErrCorrupt", err)
	}
	engine.ForgeLogVersion(log, 1)
	for _, ro := range []bool{true, false} {
		if err := os.WriteFile(cp+walSuffix, log, 0o600); err != nil {
			t.Fatal(err)
		}
		r, err := Open(cp, Options{ReadOnly: ro})
		if err != nil {
			t.Fatalf("read-only %v: Open beside the version 1 log: %v", ro, err)
		}
		checkLoads(t, r, "b", held)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
