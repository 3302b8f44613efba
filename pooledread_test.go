package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Read-your-writes with pooled reads (internal/engine/pool.go): after a
// Sync save returns, a read sees it, whether the applier is held (the
// save is in the overlay only, over a pooled transaction that may be
// older) or runs (applies and prunes between the reads, while other
// readers hold pooled reads across them).
//
// 200 saves, 100 under -race (as CI runs this package, where the two
// subtests took 57 s of a loaded run, three readers spinning beside each):
// the commit loop's apply-and-prune (every 50th) still comes twice, the
// applier's (every 10th, applierHeld=false) ten times. CKPT_RACE_FULL=1
// saves 200 under -race too.
func TestReadYourWritesWithPooledReads(t *testing.T) {
	t.Parallel()
	for _, held := range []bool{true, false} {
		t.Run(fmt.Sprintf("applierHeld=%v", held), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "s.db")
			var s *Store
			if held {
				s = openUnapplied(t, path)
			} else {
				var err error
				if s, err = Open(path, Options{}); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
			}
			ctx := context.Background()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := s.GetTuple(ctx, Config{ThreadID: "t"}); err != nil && !errors.Is(err, ErrNotFound) {
							t.Error(err)
							return
						}
					}
				})
			}
			defer func() { close(stop); wg.Wait() }()
			parent := ""
			for i := range raceRounds(t, 200, 100) {
				ver := strconv.Itoa(i + 1)
				cp := Checkpoint{V: 4, ChannelValues: map[string]any{"n": i}, ChannelVersions: map[string]string{"n": ver}}
				cfg, err := s.PutFull(ctx, Config{ThreadID: "t", CheckpointID: parent}, cp, Metadata{"step": i}, map[string]string{"n": ver}, nil)
				if err != nil {
					t.Fatal(err)
				}
				parent = cfg.CheckpointID
				tup, err := s.GetTuple(ctx, Config{ThreadID: "t"})
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				var n int
				if err := tup.Decode("n", &n); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if tup.Config.CheckpointID != cfg.CheckpointID || n != i {
					t.Fatalf("step %d: read checkpoint %s with n=%d, want the one just saved, %s with n=%d",
						i, tup.Config.CheckpointID, n, cfg.CheckpointID, i)
				}
				switch {
				case i%50 == 49:
					// The commit loop applies every group and prunes.
					if err := s.eng.Solo(ctx, nil); err != nil {
						t.Fatal(err)
					}
				case !held && i%10 == 0:
					s.eng.ApplyNow()
				}
			}
		})
	}
}
