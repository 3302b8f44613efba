package ckpt

// H235: RecentThreads (the CLI's threads --newest/--prefix, the web UI's
// list of threads) on a read-only store whose file holds a page cycle
// confined to one thread's buckets (h229CycleFiles): Threads yields the
// damaged thread with its error and the others, but RecentThreads failed
// as a whole (the damaged bucket's panic ended its one read), so neither
// the CLI nor the web UI listed a sound thread of the page. It must give
// every thread, the damaged one with its ErrCorrupt in Errs.

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestH235RecentThreadsOnACycleFileMarksTheDamagedThread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ro := h229CycleStore(t)
	all, bad := h230Threads(ctx, t, ro)
	if len(bad) == 0 {
		t.Skip("no thread of the cycle file is damaged")
	}
	for _, q := range []ThreadQuery{{}, {Prefix: "t"}} {
		page, err := ro.RecentThreads(ctx, q)
		if err != nil {
			t.Errorf("RecentThreads %+v: %v, want every thread, the damaged %v marked", q, err, bad)
			continue
		}
		var got, gotBad []string
		for i, info := range page.Threads {
			got = append(got, info.ThreadID)
			if page.Errs != nil && page.Errs[i] != nil {
				if !errors.Is(page.Errs[i], ErrCorrupt) {
					t.Errorf("RecentThreads %+v: %s: %v, want ErrCorrupt", q, info.ThreadID, page.Errs[i])
				}
				gotBad = append(gotBad, info.ThreadID)
			}
		}
		slices.Sort(got)
		slices.Sort(gotBad)
		if !slices.Equal(got, all) || !slices.Equal(gotBad, bad) {
			t.Errorf("RecentThreads %+v: threads %v, damaged %v; want %v, damaged %v", q, got, gotBad, all, bad)
		}
	}
}
