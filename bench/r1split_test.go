package main

import (
	"context"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR1Split is R1 split in two by an A/B inside one process:
// blocks of 500 GetTuple(latest) calls alternate with blocks of 500 calls
// of the same reads through a ckpt.Reader, on one W1 store. The two differ
// only in where a tuple's value bytes go: GetTuple copies them (12.4 of
// its 15.3 KB on W1) into a new block the caller owns, the Reader into the
// one it reuses. So the gap is what that fresh block costs a read (the
// allocation, first touches of new memory, the GC it brings on), and the
// Reader's figure what the rest of the read costs (seeks, checksums,
// decoding, the maps and strings of the tuple).
//
// Interleaved, both halves see the same machine: on a shared 2-core VM
// the wall time of one run swings by 2x between runs, while this ratio
// holds within a few percent. It understates the block's share: the GC
// the GetTuple blocks bring on also runs during the Reader blocks.
func BenchmarkR1Split(b *testing.B) {
	ctx := context.Background()
	st, th := settledW1(ctx, b)
	rd := st.NewReader()
	const block = 500
	var wall, cpu [2]time.Duration
	var calls [2]int
	// One call an iteration (ns/op is the two halves' mean); the clocks
	// are read at each block's ends only.
	n := 0
	var w0 time.Time
	var c0 time.Duration
	for b.Loop() {
		mode := (n / block) % 2 // 0: GetTuple, 1: the Reader
		if n%block == 0 {
			w0, c0 = time.Now(), processCPU()
		}
		cfg := ckpt.Config{ThreadID: th[n%len(th)].id}
		var err error
		if mode == 0 {
			_, err = st.GetTuple(ctx, cfg)
		} else {
			_, err = rd.GetTuple(ctx, cfg)
		}
		if err != nil {
			b.Fatal(err)
		}
		n++
		if n%block == 0 { // a whole block: a partial last one is left out
			wall[mode] += time.Since(w0)
			cpu[mode] += processCPU() - c0
			calls[mode] += block
		}
	}
	if calls[1] == 0 { // fewer than two blocks: nothing to compare
		return
	}
	per := func(d [2]time.Duration, mode int) float64 { return float64(d[mode]) / float64(calls[mode]) }
	b.ReportMetric(per(wall, 0), "gettuple-ns/call")
	b.ReportMetric(per(wall, 1), "reader-ns/call")
	if cpu[0] > 0 { // processCPU is measured (cputime_unix.go)
		b.ReportMetric(per(cpu, 0), "gettuple-cpu-ns/call")
		b.ReportMetric(per(cpu, 1), "reader-cpu-ns/call")
		b.ReportMetric(1-per(cpu, 1)/per(cpu, 0), "block-cpu-share")
	}
}
