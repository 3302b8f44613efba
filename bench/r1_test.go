package main

import (
	"context"
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
