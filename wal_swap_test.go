package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A store killed with groups logged and not applied, whose -wal is then
// replaced by another store's (two stores' logs swapped, or a log copied
// beside the wrong file): the log's groups are not this store's, and
// replaying them would put the other store's checkpoints into this one
// and lose its own. Open must refuse it (ErrCorrupt), read-write and
// read-only, and change nothing.
func TestLogOfAnotherStoreIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	a := openUnapplied(t, filepath.Join(dir, "a.db"))
	b := openUnapplied(t, filepath.Join(dir, "b.db"))
	saveN(t, a, "ta", 0, 3)
	saveN(t, b, "tb", 0, 5)
	ca, cb := crashCopy(t, a), crashCopy(t, b)
	walA, err := os.ReadFile(ca + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	walB, err := os.ReadFile(cb + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca+walSuffix, walB, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cb+walSuffix, walA, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{ca, cb} {
		for _, ro := range []bool{true, false} {
			before, _ := os.ReadFile(p)
			s, err := Open(p, Options{ReadOnly: ro})
			if err == nil {
				var threads []string
				for _, th := range []string{"ta", "tb"} {
					if _, err := s.Latest(ctx, th); err == nil {
						threads = append(threads, th)
					}
				}
				_ = s.Close()
				t.Fatalf("%s (read-only %v) opened with another store's log: threads %v readable", filepath.Base(p), ro, threads)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s (read-only %v): %v, want ErrCorrupt", filepath.Base(p), ro, err)
			}
			after, _ := os.ReadFile(p)
			if string(before) != string(after) {
				t.Fatalf("%s: the refused Open changed the file", filepath.Base(p))
			}
		}
	}
}
