package main

// W4's retention figures: GC to the latest 5 checkpoints per thread while
// Sync writers keep writing beside it (their step p99 against the same
// writers alone just before), then compaction.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ckpt-go/ckpt"
)

// w4GCResult is what the GC and compaction figures report.
type w4GCResult struct {
	writers            int
	gcSeconds          float64
	removed            int     // checkpoints GC removed
	aloneSeconds       float64 // how long the writers ran alone
	aloneSteps         int
	besideSteps        int     // steps started while GC ran
	aloneP99           float64 // µs
	besideP99          float64 // µs
	aloneP50           float64
	besideP50          float64
	sideThreads        int // the writers' threads, deleted after GC
	bytesBefore        float64
	bytesAfterGC       float64 // file size after GC (log applied)
	compactSeconds     float64
	bytesAfterCompact  float64
	compactBytesBefore float64
}

// sideStep is one step of a writer beside GC: when it started and how long
// it took.
type sideStep struct {
	start time.Time
	us    float64
}

// w4GC runs the side writers alone, then GC beside them, stops them,
// deletes their threads (so the compacted file holds W4's checkpoints
// only), and compacts.
func w4GC(ctx context.Context, st *ckpt.Store, cfg config, writers int, logf func(string, ...any)) (*w4GCResult, error) {
	r := &w4GCResult{writers: writers}
	if fi, err := os.Stat(st.Path()); err == nil {
		r.bytesBefore = float64(fi.Size())
	}
	const steps = 50
	in := buildW1Input(writers, steps, cfg.P, cfg.C, 0)
	var stop atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	lats := make([][]sideStep, writers)
	names := make([][]string, writers)
	for w := range writers {
		wg.Go(func() {
			for g := 0; !stop.Load(); g++ {
				th := thread{id: fmt.Sprintf("side-%d-%d", w, g), runID: "run-side", ids: make([]string, steps)}
				for s := 0; s < steps && !stop.Load(); s++ {
					a := time.Now()
					if _, err := doStep(ctx, st, in, &th, w, s, putThenWrites); err != nil {
						errs[w] = err
						cancel()
						return
					}
					lats[w] = append(lats[w], sideStep{a, micros(time.Since(a))})
					if s == 0 {
						names[w] = append(names[w], th.id)
					}
				}
			}
		})
	}
	// Alone: long enough for a p99 of some thousands of steps on the full
	// W4, short on a small one.
	alone := 3 * time.Second
	if cfg.w4T*cfg.w4S < 100_000 {
		alone = 500 * time.Millisecond
	}
	t0 := time.Now()
	select {
	case <-time.After(alone):
	case <-ctx.Done():
	}
	logf("W4: GC to the latest %d per thread, %d Sync writers beside", w4Keep, writers)
	gcStart := time.Now()
	gs, gcErr := st.GC(ctx, ckpt.Policy{KeepLast: w4Keep})
	gcEnd := time.Now()
	stop.Store(true)
	wg.Wait()
	if err := errors.Join(gcErr, errors.Join(errs...)); err != nil {
		return nil, err
	}
	r.gcSeconds = gcEnd.Sub(gcStart).Seconds()
	r.removed = gs.Checkpoints
	r.aloneSeconds = gcStart.Sub(t0).Seconds()
	var alonel, besidel []float64
	for _, l := range lats {
		for _, s := range l {
			switch {
			case s.start.Before(gcStart):
				alonel = append(alonel, s.us)
			case s.start.Before(gcEnd):
				besidel = append(besidel, s.us)
			}
		}
	}
	slices.Sort(alonel)
	slices.Sort(besidel)
	r.aloneSteps, r.besideSteps = len(alonel), len(besidel)
	r.aloneP50, r.aloneP99 = pct(alonel, 50), pct(alonel, 99)
	r.besideP50, r.besideP99 = pct(besidel, 50), pct(besidel, 99)

	// The writers' threads go, untimed: 16 deleters.
	var all []string
	for _, n := range names {
		all = append(all, n...)
	}
	r.sideThreads = len(all)
	logf("W4: GC took %.1f s; deleting the writers' %d threads", r.gcSeconds, len(all))
	var next atomic.Int64
	derrs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(all)); i = next.Add(1) - 1 {
				if err := st.DeleteThread(ctx, all[i]); err != nil {
					derrs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(derrs...); err != nil {
		return nil, err
	}
	if err := st.ApplyLog(ctx); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(st.Path()); err == nil {
		r.bytesAfterGC = float64(fi.Size())
	}
	logf("W4: compacting")
	t := time.Now()
	cs, err := st.Compact(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	r.compactSeconds = time.Since(t).Seconds()
	r.compactBytesBefore, r.bytesAfterCompact = float64(cs.BytesBefore), float64(cs.BytesAfter)
	return r, nil
}
