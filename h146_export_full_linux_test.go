//go:build linux

package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestReadsOnAFullDiskAfterAFailedAsyncWrite: on a full disk, an Async
// write that finds no room fails (reported by the next Flush), and the
// calls after it that only read and wait for the queue first (Export, a
// GC dry run) succeed: the write failed alone.
// Found by h146's fault chains (an Export on a full NoWAL store failed
// with the Async write's ErrDiskFull).
func TestReadsOnAFullDiskAfterAFailedAsyncWrite(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	ctx := context.Background()
	mnt := mountSmallFS(t, "tmpfs", 24<<20)
	filler := filepath.Join(mnt, "filler")
	reads := []struct {
		name string
		run  func(s *ckpt.Store) error
	}{
		{"Export", func(s *ckpt.Store) error {
			_, err := s.Export(ctx, &bytes.Buffer{}, ckpt.ExportOptions{})
			return err
		}},
		{"GC dry run", func(s *ckpt.Store) error {
			_, err := s.GC(ctx, ckpt.Policy{KeepLast: 1, DryRun: true})
			return err
		}},
	}
	for _, noWAL := range []bool{false, true} {
		for _, rd := range reads {
			what := fmt.Sprintf("%s (NoWAL %t)", rd.name, noWAL)
			path := filepath.Join(mnt, fmt.Sprintf("s-%t-%d.db", noWAL, len(rd.name)))
			s, err := ckpt.Open(path, ckpt.Options{NoWAL: noWAL})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(ctx, "t", map[string]any{"v": "before"}, nil); err != nil {
				t.Fatal(err)
			}
			if err := fillFS(filler, 0); err != nil {
				t.Fatal(err)
			}
			big := bytes.Repeat([]byte{7}, 6<<20) // past the log's first 4 MiB: no room for it
			actx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: ckpt.Async})
			if _, err := s.Save(actx, "t", map[string]any{"v": big}, nil); err != nil {
				t.Fatalf("%s: the Async Save: %v", what, err)
			}
			if err := rd.run(s); err != nil {
				t.Errorf("%s after an Async write that found no room: %v", what, err)
			}
			if err := s.Flush(ctx); !errors.Is(err, ckpt.ErrDiskFull) {
				t.Errorf("%s: Flush: %v; want the Async write's ErrDiskFull", what, err)
			}
			if err := removeFiller(filler); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("%s: Close: %v", what, err)
			}
		}
	}
}
