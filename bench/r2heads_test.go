package main

import (
	"context"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR2Heads splits R2's cost from R1's inside one process: blocks
// of 500 GetTuple calls rotate over four modes on one W1 store,
//
//	latest: R1, GetTuple(latest) of each thread in turn;
//	head:   the same checkpoints by id (each thread's newest id);
//	pick:   BenchmarkR2, by id of 100 picks (older checkpoints);
//	wide:   the bench's R2 (reads.go), by id of 10,000 picks drawn the
//	        same way over all 5,000 checkpoints (the first 100 are pick's).
//
// latest and head return the same tuples, so they differ only in how the
// checkpoint is found (a reverse seek in the header and metadata buckets,
// or two point reads); head and pick only in which checkpoints they read;
// pick and wide only in how many distinct ones (100, or the whole
// history: what the caches hold). Rotated block by block, all four see
// the same machine: on a
// shared VM the wall time of one run swings by 2x between runs, while
// these ratios hold to a few percent.
func BenchmarkR2Heads(b *testing.B) {
	ctx := context.Background()
	in := buildW1Input(100, 50, 200, 1024, 100)
	st, th := settledW1(ctx, b)
	heads := make([]ckpt.Config, len(th))
	for i, t := range th {
		heads[i] = ckpt.Config{ThreadID: t.id, CheckpointID: t.ids[len(t.ids)-1]}
		latest, err := st.GetTuple(ctx, ckpt.Config{ThreadID: t.id})
		if err != nil {
			b.Fatal(err)
		}
		if latest.Config.CheckpointID != heads[i].CheckpointID {
			b.Fatalf("thread %s: newest %s, the input's last step %s", t.id, latest.Config.CheckpointID, heads[i].CheckpointID)
		}
	}
	byID := func(picks [][2]int) []ckpt.Config {
		cfgs := make([]ckpt.Config, len(picks))
		for i, p := range picks {
			cfgs[i] = ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[p[1]]}
		}
		return cfgs
	}
	picks, wide := byID(in.picks), byID(r2Picks(in.T, in.S, 10000))
	const block, modes = 500, 4
	var cpu [modes]time.Duration
	var gc [modes]float64 // the GC's CPU seconds in each mode's blocks (runtime/metrics)
	var calls [modes]int
	n, w := 0, 0
	var c0 time.Duration
	var g0 float64
	for b.Loop() {
		mode := (n / block) % modes
		if n%block == 0 {
			c0, g0 = processCPU(), gcCPU()
		}
		var cfg ckpt.Config
		switch mode {
		case 0:
			cfg = ckpt.Config{ThreadID: th[n%len(th)].id}
		case 1:
			cfg = heads[n%len(heads)]
		case 2:
			cfg = picks[n%len(picks)]
		default:
			cfg = wide[w%len(wide)]
			w++
		}
		if _, err := st.GetTuple(ctx, cfg); err != nil {
			b.Fatal(err)
		}
		n++
		if n%block == 0 { // a whole block: a partial last one is left out
			cpu[mode] += processCPU() - c0
			gc[mode] += gcCPU() - g0
			calls[mode] += block
		}
	}
	if calls[modes-1] == 0 || cpu[0] == 0 { // too few blocks, or no process clock (cputime_other.go)
		return
	}
	per := func(mode int) float64 { return float64(cpu[mode]) / float64(calls[mode]) }
	b.ReportMetric(per(0), "latest-cpu-ns/call")
	b.ReportMetric(per(1), "head-cpu-ns/call")
	b.ReportMetric(per(2), "pick-cpu-ns/call")
	b.ReportMetric(per(1)/per(0), "head/latest")
	b.ReportMetric(per(3), "wide-cpu-ns/call")
	b.ReportMetric(per(2)/per(1), "pick/head")
	b.ReportMetric(per(3)/per(2), "wide/pick")
	b.ReportMetric(per(3)/per(0), "wide/latest")
	// Without the GC's CPU, which runs beside the read on a second core
	// and so hardly counts in wall time there (the metric is an estimate
	// the runtime updates as collections end: a block is charged for the
	// ones that end in it).
	rest := func(mode int) float64 { return per(mode) - gc[mode]*1e9/float64(calls[mode]) }
	b.ReportMetric(rest(1)/rest(0), "head/latest-nogc")
	b.ReportMetric(rest(3)/rest(0), "wide/latest-nogc")
}
