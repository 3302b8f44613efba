package main

// Reads R1..R5 on the W1 data (WORKLOAD.md), as the peer harness runs them.

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/ckpt-go/ckpt"
)

// readResult holds R1..R5.
type readResult struct {
	r1, r1Decode, r2, r3, r4 float64 // ops/s
	r1Reader, r2Reader       float64 // ops/s of R1 and R2 through a ckpt.Reader
	r5ms                     float64 // median of 5 full-history reads
}

// verifyW1 checks the latest checkpoint of thread-0 against what W1 wrote
// (untimed, as the peer does before its reads).
func verifyW1(ctx context.Context, st *ckpt.Store, in *w1Input, th []thread) error {
	tup, err := st.GetTuple(ctx, ckpt.Config{ThreadID: "thread-0"})
	if err != nil {
		return fmt.Errorf("verify W1: %w", err)
	}
	var msgs []message
	var turns int
	if err := tup.Decode("messages", &msgs); err != nil {
		return fmt.Errorf("verify W1: %w", err)
	}
	if err := tup.Decode("turn_count", &turns); err != nil {
		return fmt.Errorf("verify W1: %w", err)
	}
	var ctxText string
	if err := tup.Decode("context", &ctxText); err != nil {
		return fmt.Errorf("verify W1: %w", err)
	}
	S := in.S
	ok := tup.Config.CheckpointID == th[0].parent && len(msgs) == S && msgs[S-1] == in.msgs[0][S-1] &&
		turns == S && ctxText == in.ctx[0] && asInt(tup.Metadata["step"]) == S-1 && len(tup.PendingWrites) == 2
	if S == 1 {
		ok = ok && tup.ParentConfig == nil
	} else {
		ok = ok && tup.ParentConfig != nil && tup.ParentConfig.CheckpointID == th[0].ids[S-2]
	}
	if !ok {
		return fmt.Errorf("verify W1: latest checkpoint of thread-0 is not what was written")
	}
	return nil
}

func asInt(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case uint64:
		return int(n)
	case int:
		return n
	}
	return -1
}

// settleForReads brings a loaded store to where the peer's reads start
// (shared/peers/langgraphjs: wal_checkpoint(TRUNCATE) after the load, gc()
// before each timed figure): the load's log is in bbolt (ApplyLog), so the
// reads neither run beside the applier's replay nor read through the log's
// overlay, and no read is pooled across an apply (without it, R1 read
// through the overlay at 27-48 allocations a call); and the load's garbage
// is collected, so the GC it owes does not run inside the timed loops.
func settleForReads(ctx context.Context, st *ckpt.Store) error {
	if err := st.ApplyLog(ctx); err != nil {
		return fmt.Errorf("apply the load's log before the reads: %w", err)
	}
	runtime.GC()
	return nil
}

// runReads runs R1..R5 with nReads calls for R1 and R2. Every timed figure
// is treated alike: the store is settled once (settleForReads) and a GC
// runs right before each (R1, R1-decode, R2, R3, R4, each R5 run), as the
// peer does, so that no figure pays for another's garbage.
func runReads(ctx context.Context, st *ckpt.Store, in *w1Input, th []thread, nReads int) (*readResult, error) {
	if err := settleForReads(ctx, st); err != nil {
		return nil, err
	}
	if err := verifyW1(ctx, st, in, th); err != nil {
		return nil, err
	}
	T, S := in.T, in.S
	out := &readResult{}
	latest := func(i int) ckpt.Config { return ckpt.Config{ThreadID: th[i%T].id} }

	// R1: getTuple(latest), round-robin over the threads. The tuple's values
	// stay encoded until asked for; R1-decode also decodes the messages, as
	// the peer's getTuple does while it parses the whole checkpoint.
	runtime.GC()
	t0 := time.Now()
	for i := range nReads {
		if _, err := st.GetTuple(ctx, latest(i)); err != nil {
			return nil, fmt.Errorf("R1: %w", err)
		}
	}
	out.r1 = float64(nReads) / time.Since(t0).Seconds()
	runtime.GC()
	t0 = time.Now()
	for i := range nReads {
		tup, err := st.GetTuple(ctx, latest(i))
		if err != nil {
			return nil, fmt.Errorf("R1 decode: %w", err)
		}
		var msgs []message
		if err := tup.Decode("messages", &msgs); err != nil {
			return nil, fmt.Errorf("R1 decode: %w", err)
		}
	}
	out.r1Decode = float64(nReads) / time.Since(t0).Seconds()

	// R2: getTuple by id for the fixed random picks.
	cfgs := make([]ckpt.Config, len(in.picks))
	for i, p := range in.picks {
		cfgs[i] = ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[p[1]]}
	}
	runtime.GC()
	t0 = time.Now()
	for _, c := range cfgs {
		if _, err := st.GetTuple(ctx, c); err != nil {
			return nil, fmt.Errorf("R2: %w", err)
		}
	}
	out.r2 = float64(len(cfgs)) / time.Since(t0).Seconds()

	// R1 and R2 again through a Reader, the opt-in read whose value bytes
	// stay valid only until its next read (reader.go): a figure of its
	// own, reported beside R1 and R2, never in their place (the peer's
	// getTuple returns fresh objects, as GetTuple does).
	rdr := st.NewReader()
	runtime.GC()
	t0 = time.Now()
	for i := range nReads {
		if _, err := rdr.GetTuple(ctx, latest(i)); err != nil {
			return nil, fmt.Errorf("R1 with a Reader: %w", err)
		}
	}
	out.r1Reader = float64(nReads) / time.Since(t0).Seconds()
	runtime.GC()
	t0 = time.Now()
	for _, c := range cfgs {
		if _, err := rdr.GetTuple(ctx, c); err != nil {
			return nil, fmt.Errorf("R2 with a Reader: %w", err)
		}
	}
	out.r2Reader = float64(len(cfgs)) / time.Since(t0).Seconds()

	// R3: list(thread, limit 10) per thread, drained.
	items := 0
	runtime.GC()
	t0 = time.Now()
	for t := range T {
		for _, err := range st.List(ctx, ckpt.ListOptions{ThreadID: th[t].id, Namespace: ckpt.NS(""), Limit: 10}) {
			if err != nil {
				return nil, fmt.Errorf("R3: %w", err)
			}
			items++
		}
	}
	out.r3 = float64(T) / time.Since(t0).Seconds()
	if items != T*min(10, S) {
		return nil, fmt.Errorf("R3 returned %d items, want %d", items, T*min(10, S))
	}

	// R4: list(thread, filter {node: "tools"}) per thread, drained.
	items = 0
	runtime.GC()
	t0 = time.Now()
	for t := range T {
		for _, err := range st.List(ctx, ckpt.ListOptions{ThreadID: th[t].id, Namespace: ckpt.NS(""), Filter: map[string]any{"node": "tools"}}) {
			if err != nil {
				return nil, fmt.Errorf("R4: %w", err)
			}
			items++
		}
	}
	out.r4 = float64(T) / time.Since(t0).Seconds()
	if items != T*(S/2) {
		return nil, fmt.Errorf("R4 returned %d items, want %d", items, T*(S/2))
	}

	// R5: the full history of thread-0, newest first; median of 5.
	var r5 []float64
	for range 5 {
		n, prev, ordered := 0, S, true
		runtime.GC()
		t0 = time.Now()
		for tup, err := range st.List(ctx, ckpt.ListOptions{ThreadID: th[0].id, Namespace: ckpt.NS("")}) {
			if err != nil {
				return nil, fmt.Errorf("R5: %w", err)
			}
			n++
			step := asInt(tup.Metadata["step"])
			ordered = ordered && step < prev
			prev = step
		}
		r5 = append(r5, float64(time.Since(t0).Nanoseconds())/1e6)
		if n != S || !ordered {
			return nil, fmt.Errorf("R5 returned %d items, ordered=%v", n, ordered)
		}
	}
	out.r5ms = median(r5)
	return out, nil
}
