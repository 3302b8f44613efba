//go:build linux

package ckpt_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestErrorsAfterCompactNameTheStoresFile: Compact builds the new file
// under a temporary name (PATH.compact) and renames it into place; bbolt
// keeps the handle it opened, whose name is the temporary one. An error
// from a write into the file after that (here a full disk) named
// "write PATH.compact: no space left on device": a file that does not
// exist, where the operator looks for the store's. It must name PATH.
func TestErrorsAfterCompactNameTheStoresFile(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts ckpt.Options
	}{{"NoWAL", ckpt.Options{NoWAL: true}}, {"WAL", ckpt.Options{}}} {
		t.Run(mode.name, func(t *testing.T) {
			ctx := context.Background()
			mnt := mountSmallFS(t, "tmpfs", 8<<20)
			path := filepath.Join(mnt, "s.db")
			s, err := ckpt.Open(path, mode.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Compact(ctx, nil); err != nil {
				t.Fatal(err)
			}
			filler := filepath.Join(mnt, "filler")
			if err := fillFS(filler, 0); err != nil {
				t.Fatal(err)
			}
			defer removeFiller(filler)
			// More than the file's free pages: bbolt must grow or write it.
			big := strings.Repeat("x", 1<<20)
			_, err = s.Save(ctx, "t", map[string]any{"big": big}, nil)
			if err == nil {
				err = s.ApplyLog(ctx)
			}
			if !errors.Is(err, ckpt.ErrDiskFull) {
				t.Fatalf("a write on a full disk after Compact: %v; want ErrDiskFull", err)
			}
			if msg := err.Error(); strings.Contains(msg, ".compact") {
				t.Errorf("the error names the compaction's temporary file, gone since its rename: %v", msg)
			}
		})
	}
}

// TestCompactOnAFullDiskNamesItsNewFile: the other side of the test
// above. The new file's handle is named PATH for the store's life after
// the rename; a Compact that fails before it, writing its new file, names
// that file (PATH.compact, removed by then), not the store's, which it
// did not write.
func TestCompactOnAFullDiskNamesItsNewFile(t *testing.T) {
	ctx := context.Background()
	mnt := mountSmallFS(t, "tmpfs", 8<<20)
	path := filepath.Join(mnt, "s.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 40 {
		if _, err := s.Save(ctx, "t", map[string]any{"v": strings.Repeat("y", 32<<10), "i": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.ApplyLog(ctx); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	if err := fillFS(filler, 0); err != nil {
		t.Fatal(err)
	}
	defer removeFiller(filler)
	_, err = s.Compact(ctx, nil)
	if !errors.Is(err, ckpt.ErrDiskFull) {
		t.Fatalf("Compact on a full disk: %v; want ErrDiskFull", err)
	}
	if msg := err.Error(); !strings.Contains(msg, path+".compact") || strings.Contains(msg, path+":") {
		t.Errorf("Compact's error = %q; want it to name the new file %s.compact, not the store's", msg, path)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"after": true}, nil); err != nil {
		t.Fatalf("a Save after the failed Compact: %v", err)
	}
}
