package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR1 is the bench's own R1 (reads.go): GetTuple(latest)
// round-robin over the threads of a W1 store (100 threads x 50 steps,
// 200-byte messages, 1 KiB context), so that its profile is R1's, not a
// one-thread benchmark's. The load is NoSync (the file's layout is the
// same; only the load is faster).
func BenchmarkR1(b *testing.B) { benchR1(b, buildW1Input(100, 50, 200, 1024, 100)) }

// BenchmarkR1ManyThreads is R1 over 2,000 threads of 5 steps (W4's
// thread count): more threads than a pooled read keeps buckets open for.
func BenchmarkR1ManyThreads(b *testing.B) { benchR1(b, buildW1Input(2000, 5, 200, 1024, 100)) }

func benchR1(b *testing.B, in *w1Input) {
	benchReads(b, in, func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		_, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[n%len(th)].id})
		return err
	})
}

// BenchmarkR1Decode is the bench's "R1 + decode" (reads.go): R1's
// GetTuple(latest), then the messages decoded into []message, as the
// peer's getTuple parses the whole checkpoint.
func BenchmarkR1Decode(b *testing.B) {
	benchReads(b, buildW1Input(100, 50, 200, 1024, 100), func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		tup, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[n%len(th)].id})
		if err != nil {
			return err
		}
		var msgs []message
		if err := tup.Decode("messages", &msgs); err != nil {
			return err
		}
		if len(msgs) == 0 {
			return errors.New("R1 decode: no messages")
		}
		return nil
	})
}

// BenchmarkR2 is the bench's R2 on the same store: GetTuple by id of the
// W1 input's fixed random picks (older checkpoints: a list version that
// ends inside a folded segment).
func BenchmarkR2(b *testing.B) {
	in := buildW1Input(100, 50, 200, 1024, 100)
	benchReads(b, in, func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		p := in.picks[n%len(in.picks)]
		_, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[p[1]]})
		return err
	})
}

// BenchmarkR1Reader and BenchmarkR2Reader are BenchmarkR1 and BenchmarkR2
// through one ckpt.Reader: each read's value bytes go into the block the
// Reader keeps (valid until its next read) instead of a new one. Not a
// figure of the bench's run (its R1 and R2 are GetTuple's, as the peer's
// getTuple returns objects of their own): what a read-heavy caller that
// opts in gets.
func BenchmarkR1Reader(b *testing.B) {
	var r *ckpt.Reader
	benchReads(b, buildW1Input(100, 50, 200, 1024, 100), func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		if r == nil {
			r = st.NewReader()
		}
		_, err := r.GetTuple(ctx, ckpt.Config{ThreadID: th[n%len(th)].id})
		return err
	})
}

func BenchmarkR2Reader(b *testing.B) {
	in := buildW1Input(100, 50, 200, 1024, 100)
	var r *ckpt.Reader
	benchReads(b, in, func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		if r == nil {
			r = st.NewReader()
		}
		p := in.picks[n%len(in.picks)]
		_, err := r.GetTuple(ctx, ckpt.Config{ThreadID: th[p[0]].id, CheckpointID: th[p[0]].ids[p[1]]})
		return err
	})
}

// BenchmarkR3 is the bench's R3 on the same store: List of a thread's 10
// newest checkpoints, drained, round-robin over the threads.
func BenchmarkR3(b *testing.B) {
	benchReads(b, buildW1Input(100, 50, 200, 1024, 100), func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		for _, err := range st.List(ctx, ckpt.ListOptions{ThreadID: th[n%len(th)].id, Namespace: ckpt.NS(""), Limit: 10}) {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkR4 is the bench's R4 on the same store: List of a thread's
// checkpoints with the metadata filter {node: "tools"} (half of them),
// drained, round-robin over the threads.
func BenchmarkR4(b *testing.B) {
	in := buildW1Input(100, 50, 200, 1024, 100)
	filter := map[string]any{"node": "tools"}
	benchReads(b, in, func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		items := 0
		for _, err := range st.List(ctx, ckpt.ListOptions{ThreadID: th[n%len(th)].id, Namespace: ckpt.NS(""), Filter: filter}) {
			if err != nil {
				return err
			}
			items++
		}
		if items != in.S/2 {
			return fmt.Errorf("R4 returned %d items, want %d", items, in.S/2)
		}
		return nil
	})
}

// BenchmarkR3Thread is R3 without the namespace: List of a thread's 10
// newest checkpoints across its namespaces, which walks the thread's
// history order (and checks the page against its checkpoint records).
func BenchmarkR3Thread(b *testing.B) {
	benchReads(b, buildW1Input(100, 50, 200, 1024, 100), func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		for _, err := range st.List(ctx, ckpt.ListOptions{ThreadID: th[n%len(th)].id, Limit: 10}) {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkListAll is a List over every thread (the global index) of the
// 10 newest checkpoints before a moving bound, on the R3 store (100
// threads): its page is checked against each thread's history order.
func BenchmarkListAll(b *testing.B) { benchListAll(b, buildW1Input(100, 50, 200, 1024, 100)) }

// BenchmarkListAllManyThreads is BenchmarkListAll over 2,000 threads of 5
// steps (W4's thread count).
func BenchmarkListAllManyThreads(b *testing.B) {
	benchListAll(b, buildW1Input(2000, 5, 200, 1024, 100))
}

func benchListAll(b *testing.B, in *w1Input) {
	benchReads(b, in, func(ctx context.Context, st *ckpt.Store, th []thread, n int) error {
		t := th[n%len(th)]
		for _, err := range st.List(ctx, ckpt.ListOptions{Before: t.ids[len(t.ids)/2], Limit: 10}) {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// benchReads loads in (NoSync: the file's layout is the same, only the
// load is faster) and times read(n) for n = 0, 1, ...
func benchReads(b *testing.B, in *w1Input, read func(ctx context.Context, st *ckpt.Store, th []thread, n int) error) {
	ctx := context.Background()
	r, st, err := w1Load(ctx, filepath.Join(b.TempDir(), "w1.db"), in, ckpt.NoSync, putThenWrites, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// Move the load into bbolt first (not a sleep: under a slow machine or
	// valgrind the applier may still be busy after any fixed wait): the
	// reads are R1's on a loaded store, not beside the load's last applies
	// or reading through the log's overlay.
	if err := st.ApplyLog(ctx); err != nil {
		b.Fatal(err)
	}
	th := r.threads
	b.ReportAllocs()
	runtime.GC() // the load's garbage is not the reads' (reads.go does the same)
	cpu0, gc0 := processCPU(), gcCPU()
	n := 0
	for ; b.Loop(); n++ {
		if err := read(ctx, st, th, n); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time (all of the process's threads: the GC's workers too) per
	// read: on a shared machine wall time per op swings 2x, CPU time much
	// less.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/op")
	// The GC's share of it (its workers, assists and idle marking): what
	// the reads' garbage and the live heap it scans cost.
	b.ReportMetric((gcCPU()-gc0)*1e9/float64(n), "gc-cpu-ns/op")
	// The live heap with the reads' pooled transaction still idle in the
	// pool: what its open buckets hold (pool.go bounds it), besides the
	// store's overlay and the input.
	b.ReportMetric(liveHeapMB(), "heap-MB")
}

// liveHeapMB returns the live heap after a GC, in MB.
func liveHeapMB() float64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / 1e6
}

// gcCPU returns the CPU seconds the GC has spent so far (runtime/metrics'
// estimate).
func gcCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return s[0].Value.Float64()
}

// BenchmarkW1FileBesideReads loads W1 (Sync, one writer, as the bench's
// W1) while a reader runs R1's reads beside it the whole time, and
// reports the file's size: pooled read transactions must not keep the
// pages the applier frees from reuse (the file would grow).
func BenchmarkW1FileBesideReads(b *testing.B) {
	ctx := context.Background()
	in := buildW1Input(100, 50, 200, 1024, 100)
	for b.Loop() {
		path := filepath.Join(b.TempDir(), "w1.db")
		st, err := ckpt.Open(path, ckpt.Options{})
		if err != nil {
			b.Fatal(err)
		}
		threads := newThreads(in)
		stop, done := make(chan struct{}), make(chan struct{})
		reads := 0
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := st.GetTuple(ctx, ckpt.Config{ThreadID: threads[i%len(threads)].id}); err != nil && !errors.Is(err, ckpt.ErrNotFound) {
					b.Error(err)
					return
				}
				reads++
			}
		}()
		for s := range in.S {
			for t := range in.T {
				if _, err := doStep(ctx, st, in, &threads[t], t, s, putThenWrites); err != nil {
					b.Fatal(err)
				}
			}
		}
		close(stop)
		<-done
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		size, _, err := fileSizes(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(size)/1e6, "file-MB")
		b.ReportMetric(float64(reads), "reads")
	}
}

// BenchmarkW1Load loads W1 (100 threads x 50 steps, Put then PutWrites,
// one writer: the bench's W1) into a fresh store per iteration and reports
// the load's process CPU per step and the file's size after Close: what the
// write side pays for the layout the reads see (list folding, delta.go).
// NoSync measures CPU without fsync waits; Sync is the bench's own W1 file
// figure.
func BenchmarkW1Load(b *testing.B) {
	ctx := context.Background()
	in := buildW1Input(100, 50, 200, 1024, 100)
	for _, dur := range []ckpt.Durability{ckpt.NoSync, ckpt.Sync} {
		b.Run(dur.String(), func(b *testing.B) {
			var cpu time.Duration
			var size int64
			steps := 0
			for b.Loop() {
				path := filepath.Join(b.TempDir(), "w1.db")
				cpu0 := processCPU()
				r, st, err := w1Load(ctx, path, in, dur, putThenWrites, 1, true)
				if err != nil {
					b.Fatal(err)
				}
				if err := st.Close(); err != nil { // applies the log: part of the load's work
					b.Fatal(err)
				}
				cpu += processCPU() - cpu0
				steps += r.steps
				if size, _, err = fileSizes(path); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpu)/float64(steps), "cpu-ns/step")
			b.ReportMetric(float64(size), "file-bytes")
		})
	}
}
