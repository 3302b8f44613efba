package ckpt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// A service touches many distinct thread ids over its life and deletes
// each afterwards: the store must not keep memory per thread it has seen.
// The live heap (after a GC) after n threads created, read and deleted
// and after 5n must be about the same: a per-thread leak of even 100
// bytes shows as 400·n bytes more. CKPT_THREAD_CHURN sets n (default
// 1,000; at 10,000 and 50,000 the live heap was 1,740 and 1,769 KB).
func TestThreadChurnKeepsNoMemoryPerThread(t *testing.T) {
	if raceBuild {
		t.Skip("the race detector's sync.Pool drops pooled objects at random: the heap is not the program's (and it runs 5x slower)")
	}
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("CKPT_THREAD_CHURN")); err == nil && v > 0 {
		n = v
	}
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"log", Options{Durability: NoSync}},
		{"nowal", Options{Durability: NoSync, NoWAL: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(filepath.Join(t.TempDir(), "m.ckpt"), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			next := 0
			churn := func(k int) {
				for range k {
					th := fmt.Sprintf("thread-%08d", next)
					next++
					cfg, err := s.Put(ctx, Config{ThreadID: th, CheckpointNS: "ns"}, Checkpoint{ID: "", ChannelValues: map[string]any{"messages": []any{"a", next}}}, Metadata{"step": next}, map[string]string{"messages": "1"})
					if err != nil {
						t.Fatal(err)
					}
					if err := s.PutWrites(ctx, cfg, []Write{{Channel: "messages", Value: "w"}}, "task", ""); err != nil {
						t.Fatal(err)
					}
					if _, err := s.GetTuple(ctx, Config{ThreadID: th, CheckpointNS: "ns"}); err != nil {
						t.Fatal(err)
					}
					for _, err := range s.List(ctx, ListOptions{ThreadID: th}) {
						if err != nil {
							t.Fatal(err)
						}
					}
					if _, err := s.Thread(ctx, th); err != nil {
						t.Fatal(err)
					}
					if err := s.DeleteThread(ctx, th); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				if err := s.ApplyLog(ctx); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Stats(ctx); err != nil {
					t.Fatal(err)
				}
			}
			churn(n)
			h1 := liveHeap()
			churn(4 * n)
			h2 := liveHeap()
			t.Logf("live heap after %d threads: %d KB, after %d: %d KB", n, h1>>10, 5*n, h2>>10)
			if h2 > h1 && h2-h1 > uint64(4*n)*100 {
				t.Fatalf("live heap grew by %d bytes over %d more threads (deleted): %d bytes a thread", h2-h1, 4*n, (h2-h1)/uint64(4*n))
			}
		})
	}
}

// liveHeap returns the bytes of the heap still in use after two
// collections (the second frees what the first only marked by finalizers).
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
