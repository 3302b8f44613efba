package ckpt

// A read-write Open rolls back an import a killed process left
// unfinished: it deletes each thread the import's bucket names, with its
// mark, and reads the marks again until none is left. A damaged mark
// that breaks the bucket's order cannot be found to be deleted (bbolt's
// binary search trusts the order): the marks came back on every read
// (with the log too, once the applier had written the deletions that
// did nothing to bbolt) and Open never returned (h30-hang).

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestImportRollbackEndsOnMarksOutOfOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []string{"imp-a", "imp-b", "kept"} {
		if _, err := s.Put(ctx, Config{ThreadID: th}, Checkpoint{}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	// What an import killed after its first batch leaves: its threads
	// written, each with its mark in the import's bucket.
	id := [idLen]byte{1, 2, 3}
	if err := s.maintain(ctx, func(w writer) error {
		for _, th := range []string{"imp-a", "imp-b"} {
			if err := w.Put(importPath(id), []byte(th), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The marks are the only place where the two names follow each other
	// (their values are empty): "imp-b" becomes "imp-0", which sorts
	// before "imp-a" while it stays second in the page.
	n := 0
	for i := 0; ; i++ {
		j := bytes.Index(b[i:], []byte("imp-aimp-b"))
		if j < 0 {
			break
		}
		i += j
		b[i+9] = '0'
		n++
	}
	if n == 0 {
		t.Fatal("no marks of the import found in the file")
	}
	for _, noWAL := range []bool{false, true} {
		p := filepath.Join(t.TempDir(), "damaged.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		endsWithin(t, "Open", func() {
			s, err := Open(p, Options{NoWAL: noWAL})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("Open(NoWAL=%v) = %v, want a store or ErrCorrupt", noWAL, err)
				}
				return
			}
			if err := s.Close(); err != nil {
				t.Error(err)
			}
		})
	}
}
