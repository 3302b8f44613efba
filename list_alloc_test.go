package ckpt_test

import (
	"runtime/debug"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// maxListAllocs bounds a List of 10 (W1-shaped tuples: two channel values,
// six metadata keys, two pending writes): at most 150 allocations (issue
// 18's bound), filtered or not, whatever the history behind the page. A
// filtered List makes 144 when its reads are pooled; in a full package run
// all three rounds once found them unpooled (6 more: 150, h27-review).
const maxListAllocs = 150

// A List of 10 allocates what its 10 tuples need, not more with a longer
// history, and with a metadata filter no more for the records it skips
// (issue 18: at most 150 at 100 and at 10,000 checkpoints).
func TestListOfTenAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops pooled readers at random: counts are not the program's")
	}
	histories := []int{100, 10000}
	if testing.Short() {
		histories = histories[:1]
	}
	for _, n := range histories {
		s, _ := filledStore(t, n)
		// Read from the file, as a store does once its applier caught
		// up, not through the log's overlay of a load just finished.
		if err := s.ApplyLog(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			filter map[string]any
		}{{"unfiltered", nil}, {"filter node=tools", map[string]any{"node": "tools"}}} {
			list := func() {
				got := 0
				for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t", Namespace: ckpt.NS(""), Limit: 10, Filter: c.filter}) {
					if err != nil {
						t.Fatal(err)
					}
					got++
				}
				if got != 10 {
					t.Fatalf("listed %d, want 10", got)
				}
			}
			list() // the pooled read and readers made once
			// No GC while counting: a GC empties sync.Pool, and a round
			// that rebuilds the pooled reader counts its allocations.
			gc := debug.SetGCPercent(-1)
			// The fewest of three rounds: a round in which reads are not
			// pooled (after a long load the applier may still hold them
			// off a while) opens the thread's buckets for every page,
			// 6 allocations more.
			allocs := testing.AllocsPerRun(50, list)
			for range 2 {
				allocs = min(allocs, testing.AllocsPerRun(50, list))
			}
			debug.SetGCPercent(gc)
			t.Logf("history %d, %s: %.0f allocations per List of 10", n, c.name, allocs)
			if allocs > maxListAllocs {
				t.Errorf("history %d, %s: %.0f allocations per List of 10, want at most %d", n, c.name, allocs, maxListAllocs)
			}
		}
	}
}
