package ckpt

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// TestRecentThreadsSoundStoreFlagsNothing: RecentThreads flags a thread
// whose place the index does not give (newestEntry); on a sound store it
// must flag none, whatever wrote it. A seeded mix of the calls that write
// checkpoints or their index entries (Put in two namespaces, Save,
// CopyThread to a new thread and with Replace, GC KeepLast, Prune,
// DeleteThread, Export then Import of a deleted thread, Async writes with
// Flush), in WAL and NoWAL; after each call every page of RecentThreads
// must carry no error and list the threads in the order of their newest
// checkpoints (Thread's summary), then the threads with none, by id.
func TestRecentThreadsSoundStoreFlagsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, mode := range bothLogModes {
		t.Run(mode.name, func(t *testing.T) {
			opts := mode.opts
			opts.Durability = NoSync
			s, err := Open(filepath.Join(t.TempDir(), "s.db"), opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rng := rand.New(rand.NewPCG(7, uint64(len(mode.name))))
			threads := []string{"a", "b", "c", "d", "e"}
			pick := func() string { return threads[rng.IntN(len(threads))] }
			for step := range 120 {
				th := pick()
				var err error
				var what string
				switch rng.IntN(10) {
				case 0, 1, 2:
					what = "Put"
					ns := []string{"", "sub"}[rng.IntN(2)]
					cfg := Config{ThreadID: th, CheckpointNS: ns}
					if tup, gerr := s.GetTuple(ctx, cfg); gerr == nil {
						cfg.CheckpointID = tup.Config.CheckpointID
					}
					d := NoSync
					if rng.IntN(3) == 0 {
						d = Async
					}
					_, err = s.Put(WithWriteOptions(ctx, WriteOptions{Durability: d}), cfg,
						Checkpoint{ChannelValues: map[string]any{"x": step}, ChannelVersions: map[string]string{"x": fmt.Sprint(step)}},
						Metadata{"step": step}, map[string]string{"x": fmt.Sprint(step)})
				case 3:
					what = "Save"
					_, err = s.Save(ctx, th, map[string]any{"y": step}, nil)
				case 4:
					what = "CopyThread"
					dst := pick()
					if dst != th {
						err = s.CopyThread(ctx, th, dst, CopyOptions{Replace: true})
					}
				case 5:
					what = "GC"
					_, err = s.GC(ctx, Policy{KeepLast: 1 + rng.IntN(3)})
				case 6:
					what = "Prune"
					err = s.Prune(ctx, []string{th}, PruneKeepLatest)
				case 7:
					what = "DeleteThread"
					err = s.DeleteThread(ctx, th)
				case 8:
					what = "Export+Import"
					var dump bytes.Buffer
					if _, err = s.Export(ctx, &dump, ExportOptions{Threads: []string{th}}); err == nil {
						if err = s.DeleteThread(ctx, th); err == nil {
							_, err = s.Import(ctx, &dump, ImportOptions{})
						}
					}
				case 9:
					what = "Flush"
					err = s.Flush(ctx)
				}
				if err != nil && !isExpectedModelErr(err) {
					t.Fatalf("step %d %s(%s): %v", step, what, th, err)
				}
				// An Async write shows once its group is logged: the
				// pages are read after it, from settled state.
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				recentMatchesSummaries(t, ctx, s, fmt.Sprintf("step %d after %s(%s)", step, what, th))
			}
		})
	}
}

// isExpectedModelErr: the model's calls on a thread that holds nothing.
func isExpectedModelErr(err error) bool {
	return errors.Is(err, ErrNotFound)
}

// recentMatchesSummaries checks every page of RecentThreads (limits 1
// to 3 and none) against the order Thread's summaries give.
func recentMatchesSummaries(t *testing.T, ctx context.Context, s *Store, when string) {
	t.Helper()
	var infos []ThreadInfo
	for info, err := range s.Threads(ctx) {
		if err != nil {
			t.Fatalf("%s: Threads: %v", when, err)
		}
		infos = append(infos, info)
	}
	slices.SortStableFunc(infos, func(x, y ThreadInfo) int {
		switch {
		case x.NewestID == "" && y.NewestID == "":
			return 0 // both empty: in id order, as Threads gave them
		case x.NewestID == "":
			return 1 // a thread with no checkpoint comes last
		case y.NewestID == "":
			return -1
		}
		// Newest first; copies share their ids, and the index walked
		// from its end meets the longer, then greater name first (its
		// key is the id, the name's length, the name).
		return -cmp.Or(cmp.Compare(x.NewestID, y.NewestID), cmp.Compare(len(x.ThreadID), len(y.ThreadID)), cmp.Compare(x.ThreadID, y.ThreadID))
	})
	var want []string
	for _, info := range infos {
		want = append(want, info.ThreadID)
	}
	for _, limit := range []int{0, 1, 2, 3} {
		var got []string
		for off := 0; ; off += max(limit, 1) {
			page, err := s.RecentThreads(ctx, ThreadQuery{Offset: off, Limit: limit})
			if err != nil {
				t.Fatalf("%s: RecentThreads(%d, %d): %v", when, off, limit, err)
			}
			for i, e := range page.Errs {
				if e != nil {
					t.Fatalf("%s: RecentThreads(%d, %d) flags %s on a sound store: %v", when, off, limit, page.Threads[i].ThreadID, e)
				}
			}
			got = append(got, threadIDs(page)...)
			if limit == 0 || len(page.Threads) < limit {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: RecentThreads pages of %d = %v, want %v", when, limit, got, want)
		}
	}
}
