package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// BenchmarkR1 is the bench's own R1 (reads.go): GetTuple(latest)
// round-robin over the threads of a W1 store (100 threads x 50 steps,
// 200-byte messages, 1 KiB context), so that its profile is R1's, not a
// one-thread benchmark's. The load is NoSync (the file's layout is the
// same; only the load is faster).
func BenchmarkR1(b *testing.B) {
	ctx := context.Background()
	in := buildW1Input(100, 50, 200, 1024, 100)
	r, st, err := w1Load(ctx, filepath.Join(b.TempDir(), "w1.db"), in, ckpt.NoSync, putThenWrites, 1, true)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	th := r.threads
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := st.GetTuple(ctx, ckpt.Config{ThreadID: th[i%len(th)].id}); err != nil {
			b.Fatal(err)
		}
	}
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
