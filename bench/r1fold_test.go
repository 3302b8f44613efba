package main

import (
	"context"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR1Fold is R1 and R2 on two W1 stores in one process, read
// alternately, one call each in turn (each first every other time): K=32 (for W1's 50-item lists the
// layout of one level of folding, the default before levels: one folded
// segment and up to 31 deltas) against the default K (levels). An A/B in
// the same process and at the same moments, so that the machine's load
// falls on both alike; reported as the median ns of a read of each and
// their ratio.
func BenchmarkR1Fold(b *testing.B) {
	ctx := context.Background()
	in := buildW1Input(100, 50, 200, 1024, 100)
	var stores [2]*ckpt.Store
	var threads [2][]thread // each store's ids
	for i, k := range []int{32, 0} {
		opts := ckpt.Options{Durability: ckpt.NoSync, DeltaFold: k}
		r, st, err := w1LoadWith(ctx, filepath.Join(b.TempDir(), "w1.db"), in, opts, putThenWrites, 1, true)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		if err := st.ApplyLog(ctx); err != nil {
			b.Fatal(err)
		}
		stores[i], threads[i] = st, r.threads
	}
	for _, mode := range []string{"R1", "R2"} {
		b.Run(mode, func(b *testing.B) {
			runtime.GC()
			var spent [2][]time.Duration
			n := 0
			for ; b.Loop(); n++ {
				for j := range stores {
					i := j ^ n&1 // each first every other call
					st, th := stores[i], threads[i]
					cfg := ckpt.Config{ThreadID: th[n%len(th)].id}
					if mode == "R2" {
						p := in.picks[n%len(in.picks)]
						cfg = ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[p[1]]}
					}
					t0 := time.Now()
					if _, err := st.GetTuple(ctx, cfg); err != nil {
						b.Fatal(err)
					}
					spent[i] = append(spent[i], time.Since(t0))
				}
			}
			// Medians: a read the scheduler stops for milliseconds on a
			// loaded machine moves a mean, not a median.
			a, d := medianNS(spent[0]), medianNS(spent[1])
			b.ReportMetric(a, "K32-p50-ns")
			b.ReportMetric(d, "default-p50-ns")
			b.ReportMetric(d/a, "default/K32")
		})
	}
}

// medianNS returns the median of d in ns (d is sorted).
func medianNS(d []time.Duration) float64 {
	slices.Sort(d)
	return float64(d[len(d)/2])
}
