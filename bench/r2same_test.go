package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR2Same is W4's "R2 by id at W1's sizes" (w4reads.go) on a
// scaled W4 store beside a W1 one: GetTuple by id for the R2 picks, their
// step folded below W1's 50, so that every read returns a checkpoint of
// W1's size and only the store's size differs.
//
//	w1:    100 threads x 50 steps (W1)
//	w4s:   2,000 threads x 100 steps (W4's thread count, a fifth of its steps)
//	w4s-t100: the w4s store, the picks' threads folded below 100: as many
//	       threads as W1 over the big store (the bucket cache's working set
//	       is W1's; the file and the threads bucket are W4's)
//
// The stores are loaded by 16 NoSync writers (W4's layout: interleaved
// threads), closed, and opened again, as W4's reads are. Set
// CKPT_BENCH_STORES to a directory to keep them between runs (the load of
// w4s takes about a minute); without it they live in the test's temp dir.
func BenchmarkR2Same(b *testing.B) {
	for _, c := range []struct {
		name     string
		T, S     int
		foldT    int
		nThreads int
	}{
		{"w1", 100, 50, 100, 100},
		{"w4s", 2000, 100, 2000, 2000},
		{"w4s-t100", 2000, 100, 100, 100},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			in := buildW1Input(c.T, c.S, 200, 1024, 10000)
			st, ids := cachedStore(b, in)
			defer st.Close()
			cfgs := make([]ckpt.Config, len(in.picks))
			for i, p := range in.picks {
				t := p[0] % c.foldT
				cfgs[i] = ckpt.Config{ThreadID: fmt.Sprintf("thread-%d", t), CheckpointID: ids[t][p[1]%50]}
			}
			// One pass untimed: the file's pages in the page cache and the
			// process's map, as W4's reads after readWhole.
			for _, cfg := range cfgs {
				if _, err := st.GetTuple(ctx, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			ru0 := processUsage()
			n := 0
			for ; b.Loop(); n++ {
				cfg := cfgs[n%len(cfgs)]
				tup, err := st.GetTuple(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				if tup.Config.CheckpointID != cfg.CheckpointID {
					b.Fatalf("asked for %s, got %s", cfg.CheckpointID, tup.Config.CheckpointID)
				}
			}
			ru1 := processUsage()
			cpu := ru1.cpuNs() - ru0.cpuNs()
			b.ReportMetric(float64(cpu)/float64(n), "cpu-ns/op")
			b.ReportMetric(float64(ru1.minflt-ru0.minflt)/float64(n), "minflt/op")
			b.ReportMetric(liveHeapMB(), "heap-MB")
		})
	}
}

// cachedStore opens the store of in (loaded by 16 NoSync writers,
// Put+PutWrites), loading it first if CKPT_BENCH_STORES holds none, and
// returns it with its checkpoint ids by thread and step.
func cachedStore(b *testing.B, in *w1Input) (*ckpt.Store, [][]string) {
	b.Helper()
	dir := os.Getenv("CKPT_BENCH_STORES")
	if dir == "" {
		dir = b.TempDir()
	}
	base := filepath.Join(dir, fmt.Sprintf("r2same-%dx%d", in.T, in.S))
	path, idsPath := base+".db", base+".ids.json"
	var ids [][]string
	if data, err := os.ReadFile(idsPath); err == nil && json.Unmarshal(data, &ids) == nil && len(ids) == in.T {
		st, err := ckpt.Open(path, ckpt.Options{})
		if err == nil {
			return st, ids
		}
		b.Logf("reloading %s: %v", path, err)
	}
	ctx := context.Background()
	r, _, err := w1Load(ctx, path, in, ckpt.NoSync, putThenWrites, 16, false)
	if err != nil {
		b.Fatal(err)
	}
	ids = make([][]string, in.T)
	for t, th := range r.threads {
		ids[t] = th.ids
	}
	data, err := json.Marshal(ids)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(idsPath, data, 0o644); err != nil {
		b.Fatal(err)
	}
	st, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return st, ids
}
