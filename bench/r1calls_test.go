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

// BenchmarkR1Calls is R1's loop as reads.go runs it (GetTuple(latest)
// round-robin over a W1 store's 100 threads, the store settled first),
// timing each call: it reports the median and p99 call beside the mean
// (ns/op), and the GC cycles and stop-the-world pause per 10,000 reads.
// On a 2-core VM R1's mean carries a tail the median does not, and the
// tail follows the GC: a read allocates what it returns (about 15 KB on
// W1), and with the small live heap of a store alone in its process the
// GC runs every few MB of reads. Compare `GOGC=100` and `GOGC=400`.
func BenchmarkR1Calls(b *testing.B) {
	ctx := context.Background()
	st, th := settledW1(ctx, b)
	lat := make([]time.Duration, 0, 1<<16)
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	n := 0
	for ; b.Loop(); n++ {
		t0 := time.Now()
		if _, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[n%len(th)].id}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	runtime.ReadMemStats(&ms1)
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.5), "p50-ns")
	b.ReportMetric(at(0.99), "p99-ns")
	b.ReportMetric(float64(ms1.NumGC-ms0.NumGC)*1e4/float64(n), "GCs/10k")
	b.ReportMetric(float64(ms1.PauseTotalNs-ms0.PauseTotalNs)/1e6*1e4/float64(n), "pause-ms/10k")
}

// settledW1 is the W1 store R1's benchmarks read (NoSync: the file's
// layout is the same, only the load is faster), settled for reads as
// reads.go settles it, closed when b ends, and its threads.
func settledW1(ctx context.Context, b *testing.B) (*ckpt.Store, []thread) {
	in := buildW1Input(100, 50, 200, 1024, 100)
	r, st, err := w1Load(ctx, filepath.Join(b.TempDir(), "w1.db"), in, ckpt.NoSync, putThenWrites, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	if err := settleForReads(ctx, st); err != nil {
		b.Fatal(err)
	}
	return st, r.threads
}
