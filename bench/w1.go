package main

// W1 "chat" on ckpt (WORKLOAD.md): T threads by S steps, round-robin, one
// checkpoint and one task's two pending writes per step, exactly as the
// peer harness does them.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
)

// stepKind says how a step reaches the store.
type stepKind int

const (
	// putThenWrites is Put followed by PutWrites: two commits, as the peer.
	putThenWrites stepKind = iota
	// putFull is PutFull: checkpoint and writes in one commit.
	putFull
)

func (k stepKind) String() string {
	if k == putFull {
		return "PutFull"
	}
	return "Put+PutWrites"
}

// thread is the writer-side state of one thread.
type thread struct {
	id, runID string
	parent    string   // newest checkpoint id, "" before step 0
	ids       []string // ids[s]: checkpoint id of step s
}

func newThreads(in *w1Input) []thread {
	ts := make([]thread, in.T)
	for t := range ts {
		ts[t] = thread{id: "thread-" + strconv.Itoa(t), runID: "run-" + strconv.Itoa(t), ids: make([]string, in.S)}
	}
	return ts
}

// stepData builds the arguments of step s of thread t. It runs inside the
// timed loop, as the peer builds its objects inside its timed loop.
func stepData(in *w1Input, th *thread, t, s int) (ckpt.Checkpoint, ckpt.Metadata, map[string]string, []ckpt.Write) {
	ver := strconv.Itoa(s + 1)
	values := map[string]any{"messages": in.msgs[t][:s+1], "turn_count": s + 1}
	newVersions := map[string]string{"messages": ver, "turn_count": ver}
	if s == 0 {
		values["context"] = in.ctx[t]
		newVersions["context"] = "1"
	}
	cp := ckpt.Checkpoint{
		V:               4,
		ChannelValues:   values,
		ChannelVersions: map[string]string{"messages": ver, "turn_count": ver, "context": "1"},
		VersionsSeen:    map[string]map[string]string{},
	}
	node := "answer"
	if s%2 == 1 {
		node = "tools"
	}
	meta := ckpt.Metadata{"source": "loop", "step": s, "node": node, "route": "generate", "reason": "normal", "run_id": th.runID}
	writes := []ckpt.Write{{Channel: "messages", Value: in.msgs[t][s]}, {Channel: "turn_count", Value: s + 1}}
	return cp, meta, newVersions, writes
}

// doStep stores step s of thread t and returns how long the Put alone took
// (for putFull, the whole call).
func doStep(ctx context.Context, st stepSaver, in *w1Input, th *thread, t, s int, kind stepKind) (time.Duration, error) {
	cp, meta, nv, writes := stepData(in, th, t, s)
	cfg := ckpt.Config{ThreadID: th.id, CheckpointID: th.parent}
	task := "task-" + strconv.Itoa(s)
	t0 := time.Now()
	var ret ckpt.Config
	var err error
	if kind == putFull {
		ret, err = st.PutFull(ctx, cfg, cp, meta, nv, []ckpt.TaskWrites{{TaskID: task, Writes: writes}})
		if err != nil {
			return 0, fmt.Errorf("%s step %d: PutFull: %w", th.id, s, err)
		}
	} else {
		ret, err = st.Put(ctx, cfg, cp, meta, nv)
		if err != nil {
			return 0, fmt.Errorf("%s step %d: Put: %w", th.id, s, err)
		}
	}
	putDur := time.Since(t0)
	if kind == putThenWrites {
		if err := st.PutWrites(ctx, ret, writes, task, ""); err != nil {
			return 0, fmt.Errorf("%s step %d: PutWrites: %w", th.id, s, err)
		}
	}
	th.parent = ret.CheckpointID
	th.ids[s] = ret.CheckpointID
	return putDur, nil
}

// stepSaver is what a W1 step needs: *ckpt.Store and *redisstore.Store.
type stepSaver interface {
	Put(ctx context.Context, cfg ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, newVersions map[string]string) (ckpt.Config, error)
	PutWrites(ctx context.Context, cfg ckpt.Config, writes []ckpt.Write, taskID, taskPath string) error
	PutFull(ctx context.Context, cfg ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, newVersions map[string]string, writes []ckpt.TaskWrites) (ckpt.Config, error)
}

// w1Result is one W1 load.
type w1Result struct {
	steps      int
	seconds    float64
	stepsPerS  float64
	p50, p99   float64 // step latency, µs (one writer only)
	fileBytes  int64   // apparent file size after the load
	diskBytes  int64   // blocks the file uses on disk (bbolt grows it sparse)
	threads    []thread
	durability ckpt.Durability
}

// w1Load runs W1 on a fresh store at path with the given writers (1: the
// single round-robin loop). With keepOpen the store is returned open (for
// the reads), otherwise closed. Async loads end with a timed Flush.
func w1Load(ctx context.Context, path string, in *w1Input, dur ckpt.Durability, kind stepKind, writers int, keepOpen bool) (*w1Result, *ckpt.Store, error) {
	return w1LoadWith(ctx, path, in, ckpt.Options{Durability: dur}, kind, writers, keepOpen)
}

// w1LoadWith is w1Load with the store's options given whole.
func w1LoadWith(ctx context.Context, path string, in *w1Input, opts ckpt.Options, kind stepKind, writers int, keepOpen bool) (*w1Result, *ckpt.Store, error) {
	dur := opts.Durability
	_ = os.Remove(path)
	st, err := ckpt.Open(path, opts)
	if err != nil {
		return nil, nil, err
	}
	threads := newThreads(in)
	n := in.T * in.S
	res := &w1Result{steps: n, threads: threads, durability: dur}
	var lat []float64
	t0 := time.Now()
	if writers <= 1 {
		lat = make([]float64, 0, n)
		for s := range in.S {
			for t := range in.T {
				a := time.Now()
				if _, err := doStep(ctx, st, in, &threads[t], t, s, kind); err != nil {
					_ = st.Close()
					return nil, nil, err
				}
				lat = append(lat, micros(time.Since(a)))
			}
		}
	} else if err := concurrentLoad(ctx, st, in, threads, writers, kind); err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	if dur == ckpt.Async {
		if err := st.Flush(ctx); err != nil {
			_ = st.Close()
			return nil, nil, fmt.Errorf("flush: %w", err)
		}
	}
	res.seconds = time.Since(t0).Seconds()
	res.stepsPerS = float64(n) / res.seconds
	if lat != nil {
		slices.Sort(lat)
		res.p50, res.p99 = pct(lat, 50), pct(lat, 99)
	}
	if keepOpen {
		return res, st, nil
	}
	if err := st.Close(); err != nil {
		return nil, nil, err
	}
	if res.fileBytes, res.diskBytes, err = fileSizes(path); err != nil {
		return nil, nil, err
	}
	return res, nil, nil
}

// concurrentLoad runs W1 with the given writers: writer w owns the threads
// t with t%writers == w and, for each step, walks them in order (the
// peer's split).
func concurrentLoad(ctx context.Context, st stepSaver, in *w1Input, threads []thread, writers int, kind stepKind) error {
	writers = min(writers, in.T)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for s := range in.S {
				for t := w; t < in.T; t += writers {
					if _, err := doStep(ctx, st, in, &threads[t], t, s, kind); err != nil {
						errs[w] = err
						cancel()
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// closeAndSize closes a store returned open by w1Load and records its sizes.
func (r *w1Result) closeAndSize(st *ckpt.Store) error {
	if err := st.Close(); err != nil {
		return err
	}
	var err error
	r.fileBytes, r.diskBytes, err = fileSizes(st.Path())
	return err
}
