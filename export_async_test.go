package ckpt_test

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestExportHoldsTheAsyncWritesQueuedBeforeIt: an Export is a dump of the
// store as of the call, as a Backup is (which holds the Async writes
// queued ahead of it): three Async Saves, then Export at once, with no
// Flush between, must dump all three, and an Export of that thread by
// name must find it. Export read a snapshot, which holds an Async write
// only once its group is logged, so it missed what its caller had just
// queued (h118's note).
func TestExportHoldsTheAsyncWritesQueuedBeforeIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "async.db"), ckpt.Options{Durability: ckpt.Async})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 20 {
		for _, named := range []bool{false, true} {
			th := fmt.Sprintf("t-%d-%v", i, named)
			for j := range 3 {
				if _, err := s.Save(ctx, th, map[string]any{"j": j}, nil); err != nil {
					t.Fatal(err)
				}
			}
			opts := ckpt.ExportOptions{}
			if named {
				opts.Threads = []string{th}
			}
			sum, err := s.Export(ctx, io.Discard, opts)
			if err != nil {
				t.Fatalf("round %d: Export right after 3 Async Saves of %q (by name: %v): %v", i, th, named, err)
			}
			want := int64(3)
			if !named {
				want = 3 * int64(2*i+1) // every thread so far, three each
			}
			if sum.Checkpoints != want {
				t.Fatalf("round %d: Export right after 3 Async Saves of %q (by name: %v) dumped %d checkpoints, want %d", i, th, named, sum.Checkpoints, want)
			}
		}
	}
}
