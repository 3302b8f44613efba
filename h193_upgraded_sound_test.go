package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestH193UpgradedFilesPassTheChecks: every old-format fixture (format 2
// from testdata, 3 to 7 made from the current store, a format 7 one
// without its directory) upgraded by a read-write Open must pass the
// twenty-ninth session's checks on every call that runs them: RecentThreads
// (each thread placed by its newest checkpoint's entry), List with Before
// at every checkpoint, Latest, Save and a Put with IfHead on each head (the
// head check), GC and Prune (the count of cp/ against ids/, the page walk),
// DeleteThread; then Verify finds nothing. No call may say ErrCorrupt or
// "panicked".
func TestH193UpgradedFilesPassTheChecks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	fixes := oldFormatFixtures(t, dir)
	calls := 0
	check := func(fix, what string, err error) {
		t.Helper()
		calls++
		if h193Refused(err) {
			t.Errorf("%s: %s: %v", fix, what, err)
		}
	}
	for _, fx := range fixes {
		p := filepath.Join(dir, "u-"+fx.name+".db")
		if err := os.WriteFile(p, fx.data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{Durability: NoSync})
		if err != nil {
			t.Fatalf("%s: open: %v", fx.name, err)
		}
		page, err := s.RecentThreads(ctx, ThreadQuery{})
		check(fx.name, "RecentThreads", err)
		for i, e := range page.Errs {
			check(fx.name, "RecentThreads "+page.Threads[i].ThreadID, e)
		}
		for _, c := range fx.cfgs {
			for _, err := range s.List(ctx, ListOptions{Before: c.CheckpointID, Limit: 2}) {
				check(fx.name, "List Before "+c.CheckpointID, err)
			}
		}
		for _, info := range page.Threads {
			th := info.ThreadID
			_, err := s.Latest(ctx, th)
			if errors.Is(err, ErrNotFound) {
				err = nil
			}
			check(fx.name, "Latest "+th, err)
			for tp, err := range s.List(ctx, ListOptions{ThreadID: th, Limit: 1}) {
				check(fx.name, "List "+th, err)
				if err == nil {
					_, err := s.Put(WithWriteOptions(ctx, WriteOptions{IfHead: true}), tp.Config,
						Checkpoint{ChannelValues: map[string]any{"h193": 1}, ChannelVersions: map[string]string{"h193": "v193"}},
						Metadata{}, map[string]string{"h193": "v193"})
					check(fx.name, "Put IfHead on "+configName(tp.Config), err)
				}
			}
			_, err = s.Save(ctx, th, map[string]any{"h193": th}, nil)
			check(fx.name, "Save "+th, err)
		}
		_, err = s.GC(ctx, Policy{KeepLast: 2})
		check(fx.name, "GC KeepLast 2", err)
		if len(page.Threads) > 1 {
			th := page.Threads[0].ThreadID
			check(fx.name, "Prune "+th, s.Prune(ctx, []string{th}, PruneKeepLatest))
			check(fx.name, "DeleteThread "+page.Threads[1].ThreadID, s.DeleteThread(ctx, page.Threads[1].ThreadID))
		}
		rep, err := s.Verify(ctx, VerifyOptions{})
		check(fx.name, "Verify", err)
		if err == nil && len(rep.Problems) > 0 {
			t.Errorf("%s: Verify: %d problems, the first %v", fx.name, len(rep.Problems), rep.Problems[0])
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d fixtures, %d calls", len(fixes), calls)
}
