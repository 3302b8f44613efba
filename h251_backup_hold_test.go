package ckpt

// H251: a backup's hold of the file over a page damaged under the open
// store. The hold (engine.HoldCopy) reads whether the store's log is live
// (the mark in the meta bucket) once it holds the file: a read of bbolt
// outside any guard, in the commit loop (a read-write store's backup runs
// there) or on the caller's goroutine (a read-only store's). A damaged
// page on its way (the root page, where the small meta bucket lives)
// made bbolt panic there, and the process died.

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// h251FlipRoot sets the page type of the file's root page (the top
// buckets' tree, holding the inline meta bucket) to none, under whatever
// store has the file open (bbolt's map is the file's pages).
func h251FlipRoot(t *testing.T, path string) {
	t.Helper()
	_, f, fh := bwOpenLive(t, path)
	defer fh.Close()
	root := -1
	for id, p := range f.pages {
		if p.owner == "" {
			root = id
		}
	}
	if root < 0 {
		t.Fatal("no root page found")
	}
	if _, err := fh.WriteAt([]byte{0, 0}, int64(root*f.ps+8)); err != nil {
		t.Fatal(err)
	}
}

// TestH251BackupOverARootDamagedUnderTheOpenStoreReturns: every backup
// call of a store (read-write, bound to its log and applied; read-only)
// whose root page was damaged under it returns ErrCorrupt, and the
// handle goes on: another backup and a read return (ErrCorrupt), and
// Close returns, all within a bound (the hold let go of the applier and
// the handle).
func TestH251BackupOverARootDamagedUnderTheOpenStoreReturns(t *testing.T) {
	t.Parallel()
	for _, readOnly := range []bool{false, true} {
		name := map[bool]string{false: "read-write", true: "read-only"}[readOnly]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			h186Build(t, path, rand.New(rand.NewPCG(1, 251)))
			s, err := Open(path, Options{ReadOnly: readOnly})
			if err != nil {
				t.Fatal(err)
			}
			if !readOnly {
				// Bound to its log (a backup binds it first otherwise, and
				// that commit finds the damage) and applied.
				if _, err := s.PutFull(ctx, Config{ThreadID: "w"}, Checkpoint{ChannelValues: map[string]any{"x": 1}}, Metadata{}, nil, nil); err != nil {
					t.Fatal(err)
				}
				if err := s.ApplyLog(ctx); err != nil {
					t.Fatal(err)
				}
			}
			h251FlipRoot(t, path)
			dest := filepath.Join(t.TempDir(), "b.db")
			for i, c := range []struct {
				what string
				call func() error
			}{
				{"BackupFile", func() error { return s.BackupFile(ctx, dest) }},
				{"BackupFile again", func() error { return s.BackupFile(ctx, dest) }},
				{"Backup", func() error { return s.Backup(ctx, io.Discard) }},
				{"GetTuple", func() error { _, err := s.GetTuple(ctx, Config{ThreadID: "t0"}); return err }},
			} {
				err := h229Bounded(t, name+" "+c.what, c.call)
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("%s (call %d): %v, want ErrCorrupt", c.what, i, err)
				}
			}
			_ = h229Bounded(t, name+" Close", s.Close)
		})
	}
}

// bwOpenLive reads and walks the file at path as it is now and opens it
// for writing (the caller closes it): the damage tests write over pages
// of a file a store has open (bbolt's map is the file's pages).
func bwOpenLive(t *testing.T, path string) ([]byte, *bwFile, *os.File) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fh, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	return b, bwWalk(b), fh
}
