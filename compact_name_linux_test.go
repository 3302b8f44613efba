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
