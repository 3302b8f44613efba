package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ckpt-go/ckpt/internal/engine"
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
	// The way out keeps nothing of the other store's log and moves it aside.
	st, err := RecoverLog(ca, Options{})
	if err != nil || !st.Damaged || st.KeptGroups != 0 || st.MovedTo == "" {
		t.Fatalf("RecoverLog of a store with another store's log = %+v, %v; want the log moved aside, nothing kept", st, err)
	}
	s, err := Open(ca, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Latest(ctx, "tb"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after RecoverLog, the other store's thread: %v, want ErrNotFound", err)
	}
}

// An earlier copy of a store's own log (same identity) put back after the
// store applied past it: its records end below the file's mark, so Open
// refuses it instead of taking the file's later groups for the whole story.
func TestEarlierCopyOfTheOwnLogIsRefused(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	saveN(t, s, "t", 0, 3)
	old, err := os.ReadFile(s.path + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	saveN(t, s, "t", 3, 3)
	applyNow(t, s)
	saveN(t, s, "t", 6, 2)
	cp := crashCopy(t, s)
	if err := os.WriteFile(cp+walSuffix, old, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{true, false} {
		r, err := Open(cp, Options{ReadOnly: ro})
		if err == nil {
			_ = r.Close()
			t.Fatalf("read-only %v: an earlier copy of the log opened", ro)
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("read-only %v: %v, want ErrCorrupt", ro, err)
		}
	}
}

// The binding itself damaged (each byte of meta/wal-log flipped in turn)
// over a log with unapplied groups: the log is this store's and whole, so
// Open must replay it (a damaged binding says nothing), not refuse it as
// another store's (and leave `ckpt recover` to drop its groups).
func TestDamagedBindingDoesNotRefuseTheOwnLog(t *testing.T) {
	t.Parallel()
	// The log grows by loggedGrow, not 4 MiB: each of the binding's bytes
	// copies and replays it.
	s := openUnappliedWith(t, filepath.Join(t.TempDir(), "s.db"), Options{tuning: &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}})
	ids := saveN(t, s, "t", 0, 4)
	cp := crashCopy(t, s)
	var bind []byte
	editClosedFile(t, copyStore(t, cp), func(tx *bolt.Tx) error {
		bind = bytes.Clone(tx.Bucket(bucketMeta).Get(keyWALLog))
		return nil
	})
	if len(bind) == 0 {
		t.Fatal("no binding written")
	}
	for i := range bind {
		c := copyStore(t, cp)
		editClosedFile(t, c, func(tx *bolt.Tx) error {
			v := bytes.Clone(bind)
			v[i] ^= 0x04
			return tx.Bucket(bucketMeta).Put(keyWALLog, v)
		})
		r, err := Open(c, Options{})
		if err != nil {
			t.Errorf("binding byte %d flipped: Open = %v, want the log replayed", i, err)
			continue
		}
		checkLoads(t, r, "t", ids)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
