//go:build linux

package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestOpenOfANewFileOnAFullDiskLeavesNothing: Open creating a store on a
// disk with room for part of bbolt's first pages fails with ErrDiskFull,
// and once the operator frees space, the same Open opens a new store (the
// failed one left no file that every later Open refuses as ErrCorrupt,
// "not a ckpt file" or "truncated?"). Found by h146's fault chains (an
// Import into a new store on a full disk, then the store opened again).
func TestOpenOfANewFileOnAFullDiskLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	mnt := mountSmallFS(t, "tmpfs", 8<<20)
	filler := filepath.Join(mnt, "filler")
	failed := 0
	for free := int64(0); free <= 64<<10; free += 4 << 10 {
		what := fmt.Sprintf("%d bytes free", free)
		path := filepath.Join(mnt, fmt.Sprintf("s%d.db", free))
		if err := fillFS(filler, free); err != nil {
			t.Fatal(err)
		}
		s, err := ckpt.Open(path, ckpt.Options{})
		if err == nil {
			_ = s.Close()
		} else {
			failed++
			if !errors.Is(err, ckpt.ErrDiskFull) {
				t.Errorf("%s: Open: %v; want ErrDiskFull", what, err)
			}
		}
		if err := removeFiller(filler); err != nil {
			t.Fatal(err)
		}
		// Room again: the store opens and takes a write.
		s, err = ckpt.Open(path, ckpt.Options{})
		if err != nil {
			t.Errorf("%s: the failed Open left a file the next Open refuses: %v", what, err)
			continue
		}
		if _, err := s.Save(context.Background(), "t", map[string]any{"i": 1}, nil); err != nil {
			t.Errorf("%s: Save: %v", what, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("%s: Close: %v", what, err)
		}
	}
	if failed == 0 {
		t.Fatal("no Open met the full disk")
	}
}
