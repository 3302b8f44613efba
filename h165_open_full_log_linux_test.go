//go:build linux

package ckpt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestH165OpenOnAFullDiskLeavesNoLog: opening an existing store (closed
// cleanly: no log beside it) for writing on a disk with no room to start
// its write-ahead log fails with ErrDiskFull, and leaves the directory as
// it found it. It left an empty store.db-wal there, which every 'ckpt'
// write command refused this way ("no room to open it for writing; FILE
// left as it was") created.
func TestH165OpenOnAFullDiskLeavesNoLog(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	mnt := mountSmallFS(t, "tmpfs", 8<<20)
	path := filepath.Join(mnt, "store.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(context.Background(), "t", map[string]any{"i": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	before := h165Names(t, mnt)
	failed := 0
	// From no room at all to room for the log's header but not for the
	// commit that binds it to the file.
	for free := int64(0); free <= 32<<10; free += 4 << 10 {
		if err := fillFS(filler, free); err != nil {
			t.Fatal(err)
		}
		s, err = ckpt.Open(path, ckpt.Options{})
		if err == nil {
			err = s.Close()
		} else {
			failed++
			if !errors.Is(err, ckpt.ErrDiskFull) {
				t.Fatalf("%d bytes free: Open: %v; want ErrDiskFull", free, err)
			}
			after := slices.DeleteFunc(h165Names(t, mnt), func(n string) bool { return n == "filler" })
			if !slices.Equal(before, after) {
				t.Fatalf("%d bytes free: the failed Open left files: %v before, %v after", free, before, after)
			}
		}
		if err := removeFiller(filler); err != nil {
			t.Fatal(err)
		}
	}
	if failed == 0 {
		t.Fatal("no Open failed: the test needs a full disk")
	}
}

func h165Names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
