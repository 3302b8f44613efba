//go:build unix

package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestVerifyOfAStoreWhosePathBecameAFIFODoesNotHang: an open store's
// file is renamed away and a FIFO put at its path (by another process).
// Verify opens the path again to check the file's meta pages (CheckMeta)
// and pages (checkTx): the open of a FIFO for reading waits for a writer
// that never comes, and Verify hung. The FIFO is not the store's file:
// Verify must answer (the open store's file is checked, or the path's
// file is named as no store file), never wait.
func TestVerifyOfAStoreWhosePathBecameAFIFODoesNotHang(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, opts := range []Options{{}, {ReadOnly: true}} {
		dir := t.TempDir()
		p := filepath.Join(dir, "s.db")
		s, err := Open(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
			t.Fatal(err)
		}
		if opts.ReadOnly {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if s, err = Open(p, opts); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Rename(p, filepath.Join(dir, "moved.db")); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("no FIFO here: %v", err)
		}
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err != nil || len(rep.Problems) != 0 {
			t.Errorf("read-only %v: Verify = %+v, %v: want the open store's file, whole, checked", opts.ReadOnly, rep, err)
		}
		_ = s.Close()
	}
}
