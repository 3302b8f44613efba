package ckpt_test

// A new store's Open on a full disk: bbolt writes the file's first four
// pages at once, the write comes out short, and Open takes the pages back
// (engine.freshFile.undo). A kill -9 (or a crash) after the short write
// and before that undo leaves a file holding a prefix of bbolt's first
// pages: never a store, nothing ever written to it. Every later Open
// refused it as ErrCorrupt ("truncated?"), naming nothing to run, even
// once there was room: the path was unusable until someone removed the
// file by hand (h192_combo_linux_test.go, pair "new store's Open on a full
// disk + kill soon after", seed 20934). Such a file must open as the new
// store it was to be; a real store cut as short must still be refused.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// h192InitPages returns the first bytes bbolt writes into a new file of
// page size ps: its four pages (Open writes nothing more while no
// transaction commits).
func h192InitPages(t *testing.T, ps int) []byte {
	t.Helper()
	p := filepath.Join(t.TempDir(), "init.db")
	db, err := bolt.Open(p, 0o600, &bolt.Options{PageSize: ps})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 4*ps {
		t.Fatalf("bbolt's new file is %d bytes, want at least four %d-byte pages", len(b), ps)
	}
	return b[:4*ps]
}

func TestH192CutShortNewFileOpens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps := os.Getpagesize()
	init := h192InitPages(t, ps)
	// From 80 bytes (through the first meta page's checksum) on: shorter,
	// the prefix could be any bbolt file's start, and stays refused.
	for _, n := range []int{80, 200, ps / 2, ps, ps + 100, 2 * ps, 3*ps - 1, 3 * ps} {
		path := filepath.Join(t.TempDir(), "s.db")
		if err := os.WriteFile(path, init[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := ckpt.Open(path, ckpt.Options{})
		if err != nil {
			t.Errorf("%d of bbolt's first %d bytes: Open: %v", n, len(init), err)
			continue
		}
		id, err := s.Save(ctx, "t", map[string]any{"n": n}, nil)
		if err == nil {
			err = s.Close()
		}
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		s, err = ckpt.Open(path, ckpt.Options{})
		if err != nil {
			t.Fatalf("%d bytes: reopen: %v", n, err)
		}
		var got int
		snap, err := s.Load(ctx, "t", id)
		if err == nil {
			err = snap.Decode("n", &got)
		}
		if err != nil || got != n {
			t.Errorf("%d bytes: read back %d, %v", n, got, err)
		}
		_ = s.Close()
	}
}

// TestH192CutShortStoreRefused: a store (its first transaction committed)
// cut to fewer than four pages is damage, not a new file: still refused,
// and left as it was; so is a cut shorter than the first meta page's
// checksum (80 bytes), which the start of any bbolt file could be.
func TestH192CutShortStoreRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ps := os.Getpagesize()
	src := filepath.Join(t.TempDir(), "src.db")
	s, err := ckpt.Open(src, ckpt.Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"n": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{20, 79, 80, 100, ps, 2 * ps, 3 * ps} {
		path := filepath.Join(t.TempDir(), "s.db")
		if err := os.WriteFile(path, whole[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := ckpt.Open(path, ckpt.Options{}); !errors.Is(err, ckpt.ErrCorrupt) {
			if err == nil {
				_ = s.Close()
			}
			t.Errorf("a store cut to %d bytes: Open: %v, want ErrCorrupt", n, err)
		}
		if b, err := os.ReadFile(path); err != nil || len(b) != n {
			t.Errorf("a store cut to %d bytes: Open left %d bytes (%v)", n, len(b), err)
		}
	}
}
