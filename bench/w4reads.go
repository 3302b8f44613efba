package main

// R1-R4 as latencies, for W4's comparison with W1 (issue 18: a B+tree
// lookup must not care how many other threads and checkpoints exist). The
// calls are those of reads.go; each is timed on its own.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ckpt-go/ckpt"
)

// w4ListCalls is how many R3 and R4 calls are timed (round-robin over the
// threads), so that a store of 100 threads gives a p99 too.
const w4ListCalls = 1000

// latFig is one read's latencies.
type latFig struct {
	p50, p99 float64 // µs
	opsPerS  float64 // calls / the sum of their times
	calls    int
	items    int // checkpoints returned (R3, R4)
}

// latReads holds R1..R4; r4Item is R4's latency divided by the
// checkpoints each call returned.
type latReads struct {
	r1, r2, r3, r4, r4Item latFig
}

// latOf summarises per-call latencies in µs (sorted in place).
func latOf(lat []float64, items int) latFig {
	slices.Sort(lat)
	var sum float64
	for _, v := range lat {
		sum += v
	}
	return latFig{p50: pct(lat, 50), p99: pct(lat, 99), opsPerS: float64(len(lat)) / (sum / 1e6), calls: len(lat), items: items}
}

// readLatencies times nReads R1 calls (thread i%T), R2 on in's picks,
// and w4ListCalls each of R3 and R4 (thread i%T), checking every result's
// size as reads.go does.
func readLatencies(ctx context.Context, st *ckpt.Store, in *w1Input, th []thread, nReads int) (*latReads, error) {
	if err := verifyW1(ctx, st, in, th); err != nil {
		return nil, err
	}
	T, S := in.T, in.S
	out := &latReads{}
	lat := make([]float64, 0, max(nReads, len(in.picks), w4ListCalls))

	for i := range nReads {
		t0 := time.Now()
		if _, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[i%T].id}); err != nil {
			return nil, fmt.Errorf("R1: %w", err)
		}
		lat = append(lat, micros(time.Since(t0)))
	}
	out.r1 = latOf(lat, 0)

	lat = lat[:0]
	for _, p := range in.picks {
		c := ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[p[1]]}
		t0 := time.Now()
		tup, err := st.GetTuple(ctx, c)
		d := time.Since(t0)
		if err != nil {
			return nil, fmt.Errorf("R2: %w", err)
		}
		if tup.Config.CheckpointID != c.CheckpointID {
			return nil, fmt.Errorf("R2: asked for %s, got %s", c.CheckpointID, tup.Config.CheckpointID)
		}
		lat = append(lat, micros(d))
	}
	out.r2 = latOf(lat, 0)

	list := func(name string, opts func(t int) ckpt.ListOptions, want int) (latFig, []float64, error) {
		l := make([]float64, 0, w4ListCalls)
		perItem := make([]float64, 0, w4ListCalls)
		total := 0
		for i := range w4ListCalls {
			items := 0
			t0 := time.Now()
			for _, err := range st.List(ctx, opts(i%T)) {
				if err != nil {
					return latFig{}, nil, fmt.Errorf("%s: %w", name, err)
				}
				items++
			}
			d := micros(time.Since(t0))
			if items != want {
				return latFig{}, nil, fmt.Errorf("%s returned %d items, want %d", name, items, want)
			}
			l = append(l, d)
			perItem = append(perItem, d/float64(max(items, 1)))
			total += items
		}
		return latOf(l, total), perItem, nil
	}
	var err error
	if out.r3, _, err = list("R3", func(t int) ckpt.ListOptions {
		return ckpt.ListOptions{ThreadID: th[t].id, Namespace: ckpt.NS(""), Limit: 10}
	}, min(10, S)); err != nil {
		return nil, err
	}
	var perItem []float64
	if out.r4, perItem, err = list("R4", func(t int) ckpt.ListOptions {
		return ckpt.ListOptions{ThreadID: th[t].id, Namespace: ckpt.NS(""), Filter: map[string]any{"node": "tools"}}
	}, S/2); err != nil {
		return nil, err
	}
	out.r4Item = latOf(perItem, out.r4.items)
	return out, nil
}
