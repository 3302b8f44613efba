package ckpt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// writingCtx is a context whose every Err call first runs hook: a writer
// that gets in at each point where the call under test looks at its ctx.
type writingCtx struct {
	context.Context
	hook func()
}

func (c writingCtx) Err() error {
	c.hook()
	return c.Context.Err()
}

// TestRecentThreadsPageIsOneSnapshot: a page of RecentThreads is the
// store as of one moment, while writers delete the newest thread and
// write to the oldest at each point where RecentThreads looks at its ctx:
// its threads, their summaries and Total are those of the page the slow
// way (every thread summarised, sorted) computes at one of the states the
// store went through, never a mix (a thread of the walk deleted before
// its summary left the page one short of its Limit, with a Total that
// counted it).
func TestRecentThreadsPageIsOneSnapshot(t *testing.T) {
	t.Parallel()
	for _, q := range []ThreadQuery{{Limit: 3}, {Offset: 1, Limit: 3}, {Prefix: "t", Limit: 4}, {}} {
		t.Run(fmt.Sprintf("%+v", q), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, err := Open(filepath.Join(t.TempDir(), "r.db"), Options{Durability: NoSync})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			const threads = 10
			for i := range threads {
				if _, err := s.Save(ctx, fmt.Sprintf("t%d", i), map[string]any{"i": i}, nil); err != nil {
					t.Fatal(err)
				}
			}
			type state struct {
				total   int
				threads []ThreadInfo
			}
			pageOf := func() state {
				all := recentByThreads(t, s, q.Prefix)
				exp := all[min(q.Offset, len(all)):]
				if q.Limit > 0 {
					exp = exp[:min(q.Limit, len(exp))]
				}
				return state{len(all), exp}
			}
			states := []state{pageOf()}
			writes, busy := 0, false
			hook := func() {
				if busy || writes >= 12 {
					return
				}
				busy = true
				defer func() { busy = false }()
				all := recentByThreads(t, s, "")
				if writes%2 == 0 {
					if err := s.DeleteThread(ctx, all[0].ThreadID); err != nil {
						t.Fatal(err)
					}
				} else if _, err := s.Save(ctx, all[len(all)-1].ThreadID, map[string]any{"again": writes}, nil); err != nil {
					t.Fatal(err)
				}
				writes++
				states = append(states, pageOf())
			}
			page, err := s.RecentThreads(writingCtx{ctx, hook}, q)
			if err != nil {
				t.Fatal(err)
			}
			if writes == 0 {
				t.Fatal("RecentThreads never looked at its ctx: no writer got in")
			}
			for _, st := range states {
				if page.Total == st.total && page.Errs == nil && equalInfos(page.Threads, st.threads) {
					return
				}
			}
			t.Errorf("after %d writes, RecentThreads(%+v) = total %d, threads %v: the page of none of the states the store went through", writes, q, page.Total, ids(page.Threads))
			for i, st := range states {
				t.Logf("state %d: total %d, threads %v", i, st.total, ids(st.threads))
			}
		})
	}
}
