package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// The checks that compare a walk of the checkpoint bucket with the
// history order (a namespace List page, Branches) or the newest checkpoint
// with the newest metadata key (GetTuple(latest)), and the checks of a
// thread List page against the checkpoint bucket and of a List page over
// every thread against each thread's history order, read both in one
// snapshot. Beside writers, GC, Prune and Compact they must never see one
// without the other: no ErrCorrupt on a sound store.
//
// It runs until 600 saves (300 under -race), 200 reads and 10 GC, Prune or
// Compact runs are done: the saves (Sync, fsync'd) are what it waits for.
// Under -race, as CI runs this package, 600 took 53 s of a loaded run,
// beside 2393 reads and 263 GC/Prune/Compact; CKPT_HUNT_ROUNDS=N saves N.
func TestHistoryChecksBesideWritersAndRetention(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	ctx := context.Background()
	var stop atomic.Bool
	var saves, reads, maint atomic.Int64
	wantSaves := int64(huntRounds(600, 300))
	done := func() {
		if saves.Load() >= wantSaves && reads.Load() >= 200 && maint.Load() >= 10 {
			stop.Store(true)
		}
	}
	var wg sync.WaitGroup
	const threads = 3
	for w := range threads {
		wg.Go(func() {
			thread := fmt.Sprint("t", w)
			for step := 0; !stop.Load(); step++ {
				cfg, err := s.Save(ctx, thread, map[string]any{"step": step, "l": make([]int, step%20)}, ckpt.Metadata{"step": step})
				if err != nil {
					t.Error(err)
					return
				}
				saves.Add(1)
				done()
				// A subgraph checkpoint in another namespace now and then.
				if step%3 == 0 {
					if _, err := s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: "sub"},
						ckpt.Checkpoint{ChannelValues: map[string]any{"x": step}, ChannelVersions: map[string]string{"x": cfg}},
						nil, map[string]string{"x": cfg}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			var err error
			switch i % 3 {
			case 0:
				_, err = s.GC(ctx, ckpt.Policy{KeepLast: 3})
			case 1:
				err = s.Prune(ctx, []string{fmt.Sprint("t", i%threads)}, ckpt.PruneKeepLatest)
			case 2:
				_, err = s.Compact(ctx, nil)
			}
			if err != nil {
				t.Error(err)
				return
			}
			maint.Add(1)
		}
	})
	for r := range 2 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				thread := fmt.Sprint("t", (i+r)%threads)
				for _, ns := range []string{"", "sub"} {
					for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread, Namespace: ckpt.NS(ns)}) {
						if err != nil {
							t.Errorf("List %s %q: %v", thread, ns, err)
							return
						}
					}
					if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}); err != nil && !errors.Is(err, ckpt.ErrNotFound) {
						t.Errorf("GetTuple(latest) %s %q: %v", thread, ns, err)
						return
					}
				}
				// The walks of the thread's history order and of the
				// global index (list_gaps.go), whole and a short page.
				for _, o := range []ckpt.ListOptions{{ThreadID: thread}, {ThreadID: thread, Limit: 2}, {}, {Limit: 2}, {Namespace: ckpt.NS("sub")}} {
					for _, err := range s.List(ctx, o) {
						if err != nil {
							t.Errorf("List %+v: %v", o, err)
							return
						}
					}
				}
				if _, err := s.Branches(ctx, thread); err != nil {
					t.Errorf("Branches %s: %v", thread, err)
					return
				}
				for _, err := range s.History(ctx, thread, ckpt.ListOptions{}) {
					if err != nil {
						t.Errorf("History %s: %v", thread, err)
						return
					}
				}
				reads.Add(1)
				done()
			}
		})
	}
	wg.Wait()
	t.Logf("%d saves, %d reads, %d GC/Prune/Compact", saves.Load(), reads.Load(), maint.Load())
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", err, rep.Problems)
	}
}
