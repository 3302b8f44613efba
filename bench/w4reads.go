package main

// R1-R4 as latencies, for W4's comparison with W1 (issue 18: a B+tree
// lookup must not care how many other threads and checkpoints exist). The
// calls are those of reads.go; each is timed on its own.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/ckpt-go/ckpt"
)

// w4ListCalls is how many R3 and R4 calls are timed (round-robin over the
// threads), so that a store of 100 threads gives a p99 too; w4ReadRounds
// is how many turns W1 and W4 take.
const (
	w4ListCalls  = 1000
	w4ReadRounds = 10
)

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
	// r2Same and r3Same read checkpoints of W1's sizes on both stores
	// (steps below W1's S): W1's state grows by a message a step, so a
	// W4 checkpoint at step 400 is ten times the bytes of any W1 one, and
	// R1-R3 on W4 mix what the store holds with what each read returns.
	// These two keep the size equal and leave only the store's size.
	r2Same, r3Same latFig
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

// latRaw collects one store's per-call latencies (µs) over the rounds.
type latRaw struct {
	r1, r2, r3, r4, r4Item []float64
	r2Same, r3Same         []float64
	r3Items, r4Items       int
}

func (l *latRaw) result() *latReads {
	return &latReads{r1: latOf(l.r1, 0), r2: latOf(l.r2, 0), r3: latOf(l.r3, l.r3Items), r4: latOf(l.r4, l.r4Items), r4Item: latOf(l.r4Item, l.r4Items),
		r2Same: latOf(l.r2Same, 0), r3Same: latOf(l.r3Same, 0)}
}

// readSide is one store with the input and threads its reads are made of.
type readSide struct {
	st  *ckpt.Store
	in  *w1Input
	th  []thread
	raw latRaw
	// sameS is W1's steps per thread: the same-size reads stay below it.
	sameS int
	// name labels the side's samples in a CPU profile (readsProfileEnv)
	// and its lines in the costs readCosts gives.
	name  string
	costs map[string]*readCost
}

// readsProfileEnv names a file: when set, interleavedReads writes a CPU
// profile of its timed reads there, each sample labelled with the side
// ("side": W1 or W4) and the side's read ("read": "W4 R1", "W1 R2", ...;
// pprof's -tagfocus takes one key), so that `go tool pprof -tagfocus
// 'read=W4 R1$'` shows one read on one side.
const readsProfileEnv = "CKPT_BENCH_READS_CPUPROFILE"

// readCost is what one read on one side cost the process over its calls:
// CPU time (user and system, every thread of the process: the GC's
// workers too) and minor page faults (the file's map touched the first
// time, or heap pages the runtime had given back to the system).
type readCost struct {
	calls          int
	userNs, sysNs  int64
	minflt, majflt int64
}

// readCosts lists a side's costs per call, in read order, one line each.
func (sd *readSide) readCosts() []string {
	var out []string
	for _, name := range []string{"R1", "R2", "R2 same", "R3", "R3 same", "R4"} {
		c := sd.costs[name]
		if c == nil || c.calls == 0 {
			continue
		}
		n := float64(c.calls)
		out = append(out, fmt.Sprintf("%s %s: %.1f µs CPU a call (%.1f of it system), %.2f minor faults a call, %d major in all",
			sd.name, name, float64(c.userNs+c.sysNs)/n/1e3, float64(c.sysNs)/n/1e3, float64(c.minflt)/n, c.majflt))
	}
	return out
}

// measure runs one read's share of a round on the side, its CPU time and
// page faults added to the side's costs, its profile samples labelled.
func (sd *readSide) measure(ctx context.Context, name string, calls int, f func() error) error {
	if sd.costs == nil {
		sd.costs = map[string]*readCost{}
	}
	c := sd.costs[name]
	if c == nil {
		c = &readCost{}
		sd.costs[name] = c
	}
	var err error
	var ru0, ru1 usage
	pprof.Do(ctx, pprof.Labels("side", sd.name, "read", sd.name+" "+name), func(context.Context) {
		ru0 = processUsage()
		err = f()
		ru1 = processUsage()
	})
	c.calls += calls
	c.userNs += ru1.userNs - ru0.userNs
	c.sysNs += ru1.sysNs - ru0.sysNs
	c.minflt += ru1.minflt - ru0.minflt
	c.majflt += ru1.majflt - ru0.majflt
	return err
}

// interleavedReads times R1-R4 on each side, taking turns: each of rounds
// rounds does a share of every read on every side in turn, so a change in
// the machine's load meanwhile falls on all of them alike (the machine is
// shared). Each side makes len(in.picks) R1 and R2 calls and w4ListCalls
// R3 and R4 calls; every result's size is checked as reads.go does.
//
// Every call is made once untimed first, on every side, so that all are
// timed alike: with the file's pages in the process's map. A store the
// process loaded has them mapped by its load; one it just opened (W4's)
// would pay a page fault at the first touch of each page, in the first
// two rounds of R1 (which the rest reuse) on W4: 3.8 minor faults a call
// over 2,000 threads of 100 steps, none the second time (h25-w4read).
// costs, when not nil, is given each side's costs after the untimed
// pass and after the timed rounds (readSide.readCosts).
func interleavedReads(ctx context.Context, sides []*readSide, rounds int, costs func(untimed bool, sd *readSide)) ([]*latReads, error) {
	// Every side is settled as runReads settles W1's store (the load's or
	// the Open's log in bbolt, the load's garbage collected), and a GC runs
	// before each timed read of each round (readRound): every figure, here
	// and in reads.go, starts alike, as the peer's do.
	for _, sd := range sides {
		if err := settleForReads(ctx, sd.st); err != nil {
			return nil, err
		}
		if err := verifyW1(ctx, sd.st, sd.in, sd.th); err != nil {
			return nil, err
		}
	}
	for r := range rounds {
		for _, sd := range sides {
			if err := readRound(ctx, sd, r, rounds); err != nil {
				return nil, err
			}
		}
	}
	for _, sd := range sides {
		if costs != nil {
			costs(true, sd)
		}
		sd.raw, sd.costs = latRaw{}, nil
	}
	if path := os.Getenv(readsProfileEnv); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	for r := range rounds {
		for _, sd := range sides {
			if err := readRound(ctx, sd, r, rounds); err != nil {
				return nil, err
			}
		}
	}
	if costs != nil {
		for _, sd := range sides {
			costs(false, sd)
		}
	}
	out := make([]*latReads, len(sides))
	for i, sd := range sides {
		out[i] = sd.raw.result()
	}
	return out, nil
}

// part returns round r's share [from, to) of n calls in rounds rounds.
func part(n, r, rounds int) (int, int) { return n * r / rounds, n * (r + 1) / rounds }

// readRound makes round r's share of each read on one side.
func readRound(ctx context.Context, sd *readSide, r, rounds int) error {
	st, in, th, raw := sd.st, sd.in, sd.th, &sd.raw
	T, S := in.T, in.S
	from, to := part(len(in.picks), r, rounds)
	runtime.GC()
	if err := sd.measure(ctx, "R1", to-from, func() error {
		for i := from; i < to; i++ {
			t0 := time.Now()
			if _, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[i%T].id}); err != nil {
				return fmt.Errorf("R1: %w", err)
			}
			raw.r1 = append(raw.r1, micros(time.Since(t0)))
		}
		return nil
	}); err != nil {
		return err
	}
	runtime.GC()
	if err := sd.measure(ctx, "R2", to-from, func() error {
		for _, p := range in.picks[from:to] {
			c := ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[p[1]]}
			t0 := time.Now()
			tup, err := st.GetTuple(ctx, c)
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("R2: %w", err)
			}
			if tup.Config.CheckpointID != c.CheckpointID {
				return fmt.Errorf("R2: asked for %s, got %s", c.CheckpointID, tup.Config.CheckpointID)
			}
			raw.r2 = append(raw.r2, micros(d))
		}
		return nil
	}); err != nil {
		return err
	}
	// R2 at W1's sizes: the same picks, their step folded below sameS.
	runtime.GC()
	if err := sd.measure(ctx, "R2 same", to-from, func() error {
		for _, p := range in.picks[from:to] {
			c := ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[p[1]%min(sd.sameS, S)]}
			t0 := time.Now()
			tup, err := st.GetTuple(ctx, c)
			d := time.Since(t0)
			if err != nil {
				return fmt.Errorf("R2 at W1's sizes: %w", err)
			}
			if tup.Config.CheckpointID != c.CheckpointID {
				return fmt.Errorf("R2 at W1's sizes: asked for %s, got %s", c.CheckpointID, tup.Config.CheckpointID)
			}
			raw.r2Same = append(raw.r2Same, micros(d))
		}
		return nil
	}); err != nil {
		return err
	}
	list := func(name string, opts ckpt.ListOptions, want int) (float64, error) {
		items := 0
		t0 := time.Now()
		for _, err := range st.List(ctx, opts) {
			if err != nil {
				return 0, fmt.Errorf("%s: %w", name, err)
			}
			items++
		}
		d := micros(time.Since(t0))
		if items != want {
			return 0, fmt.Errorf("%s returned %d items, want %d", name, items, want)
		}
		return d, nil
	}
	from, to = part(w4ListCalls, r, rounds)
	runtime.GC()
	if err := sd.measure(ctx, "R3", to-from, func() error {
		for i := from; i < to; i++ {
			d, err := list("R3", ckpt.ListOptions{ThreadID: th[i%T].id, Namespace: ckpt.NS(""), Limit: 10}, min(10, S))
			if err != nil {
				return err
			}
			raw.r3 = append(raw.r3, d)
			raw.r3Items += min(10, S)
		}
		return nil
	}); err != nil {
		return err
	}
	// R3 at W1's sizes: the 10 checkpoints before step sameS (W1's latest
	// 10; on W4 the same steps of a longer thread).
	runtime.GC()
	if err := sd.measure(ctx, "R3 same", to-from, func() error {
		for i := from; i < to; i++ {
			opts := ckpt.ListOptions{ThreadID: th[i%T].id, Namespace: ckpt.NS(""), Limit: 10}
			if sd.sameS < S {
				opts.Before = th[i%T].ids[sd.sameS]
			}
			d, err := list("R3 at W1's sizes", opts, min(10, sd.sameS, S))
			if err != nil {
				return err
			}
			raw.r3Same = append(raw.r3Same, d)
		}
		return nil
	}); err != nil {
		return err
	}
	runtime.GC()
	return sd.measure(ctx, "R4", to-from, func() error {
		for i := from; i < to; i++ {
			d, err := list("R4", ckpt.ListOptions{ThreadID: th[i%T].id, Namespace: ckpt.NS(""), Filter: map[string]any{"node": "tools"}}, S/2)
			if err != nil {
				return err
			}
			raw.r4 = append(raw.r4, d)
			raw.r4Item = append(raw.r4Item, d/float64(max(S/2, 1)))
			raw.r4Items += S / 2
		}
		return nil
	})
}
