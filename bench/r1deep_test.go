package main

import (
	"context"
	"strconv"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR1Deep is W4's R1 (GetTuple(latest), round-robin over the
// threads) at W1's thread count with W1's 50 steps and W4's 500 steps a
// thread, on stores loaded as W4's (16 NoSync writers, interleaved
// threads), closed and opened again. Small W4 runs (h25-w4read) put W4's
// R1 ratio on the steps a thread, not on the thread count: 2,000 x 50
// gave 1.29x of W1, 100 x 500 gave 2.97x. CKPT_BENCH_STORES keeps the
// stores between runs (cachedStore).
func BenchmarkR1Deep(b *testing.B) {
	for _, c := range []struct {
		name   string
		T, S   int
		reader bool
	}{
		{"s50", 100, 50, false},
		{"s500", 100, 500, false},
		{"s50-reader", 100, 50, true},
		{"s500-reader", 100, 500, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			in := buildW1Input(c.T, c.S, 200, 1024, 100)
			st, _ := cachedStore(b, in)
			defer st.Close()
			cfgs := make([]ckpt.Config, c.T)
			for t := range cfgs {
				cfgs[t] = ckpt.Config{ThreadID: "thread-" + strconv.Itoa(t)}
			}
			// One pass untimed: the pages in the process's map, as W4's
			// reads after readWhole and its first rounds.
			var bytes int
			for _, cfg := range cfgs {
				tup, err := st.GetTuple(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				for _, v := range tup.Checkpoint.ChannelValues {
					if r, ok := v.(ckpt.Raw); ok {
						bytes += len(r)
					}
				}
			}
			b.ReportAllocs()
			ru0 := processUsage()
			n := 0
			get := st.GetTuple
			if c.reader {
				get = st.NewReader().GetTuple
			}
			for ; b.Loop(); n++ {
				if _, err := get(ctx, cfgs[n%len(cfgs)]); err != nil {
					b.Fatal(err)
				}
			}
			ru1 := processUsage()
			cpu := ru1.cpuNs() - ru0.cpuNs()
			b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/op")
			b.ReportMetric(float64(ru1.sysNs-ru0.sysNs)/float64(n), "sys-ns/op")
			b.ReportMetric(float64(ru1.minflt-ru0.minflt)/float64(n), "minflt/op")
			b.ReportMetric(float64(bytes)/float64(len(cfgs)), "value-B/op")
		})
	}
}
