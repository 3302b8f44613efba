package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
)

// h222: a write whose engine.Op.OnQueue fails (a Save with no id left,
// ErrIDsExhausted) is not queued: Send must give back what it took for it
// (pending bytes, queueMu), count nothing as an Async failure, so that a
// long run of such calls leaves later writes, Flush and Close as they were.
func TestH222FailingOnQueueLeaksNothing(t *testing.T) {
	for _, noWAL := range []bool{false, true} {
		ctx := context.Background()
		var asyncErrs atomic.Int32
		path := filepath.Join(t.TempDir(), "s.db")
		// Room for a few Saves' records only: a Save whose bytes were not
		// given back would make the next ones wait for good.
		s, err := Open(path, Options{NoWAL: noWAL, MaxPendingBytes: 4 << 10, OnAsyncError: func(error) { asyncErrs.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		const last = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
		put := func(wctx context.Context, id string, n int) error {
			_, err := s.Put(wctx, Config{ThreadID: "t"}, Checkpoint{ID: id, ChannelValues: map[string]any{"n": n},
				ChannelVersions: map[string]string{"n": fmt.Sprint(n)}}, nil, map[string]string{"n": fmt.Sprint(n)})
			return err
		}
		if err := put(ctx, last, 0); err != nil {
			t.Fatal(err)
		}
		base := runtime.NumGoroutine()
		before := s.Metrics()
		const n = 10000
		async := WithWriteOptions(ctx, WriteOptions{Durability: Async})
		value := map[string]any{"v": make([]byte, 1<<10)} // a quarter of the room
		done := make(chan struct{})
		var failed int
		go func() {
			defer close(done)
			for i := range n {
				wctx := async
				if i%10 == 9 {
					wctx = WithWriteOptions(ctx, WriteOptions{Durability: Sync})
				}
				id, err := s.Save(wctx, fmt.Sprint("s", i%7), value, nil)
				if !errors.Is(err, ErrIDsExhausted) || id != "" {
					t.Errorf("noWAL %v: Save %d with no id left: %q %v", noWAL, i, id, err)
					return
				}
				failed++
			}
		}()
		if !h216Wait(t, done, fmt.Sprintf("%d Saves with no id left", n)) {
			return
		}
		if failed != n {
			t.Fatalf("noWAL %v: %d of %d failed as they should", noWAL, failed, n)
		}
		if held := s.eng.PendingBytes(); held != 0 {
			t.Errorf("noWAL %v: %d pending bytes held after %d failed Saves, want 0", noWAL, held, n)
		}
		after := s.Metrics()
		if got := after.Ops[OpPut] - before.Ops[OpPut]; got != n {
			t.Errorf("noWAL %v: Metrics counted %d Saves, want %d", noWAL, got, n)
		}
		var errs int64
		for k := range after.Errors {
			errs += after.Errors[k] - before.Errors[k]
		}
		if errs != n {
			t.Errorf("noWAL %v: Metrics counted %d errors, want %d", noWAL, errs, n)
		}
		// Later writes: Async and Sync, each larger than the room alone.
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			big := make([]byte, 8<<10)
			for i := range 50 {
				wctx := async
				if i%2 == 1 {
					wctx = WithWriteOptions(ctx, WriteOptions{Durability: Sync})
				}
				if err := s.PutWrites(wctx, Config{ThreadID: "t", CheckpointID: last}, []Write{{Channel: "c", Value: big}}, fmt.Sprint("task", i), ""); err != nil {
					t.Errorf("noWAL %v: PutWrites %d after failed Saves: %v", noWAL, i, err)
					return
				}
			}
			if err := s.Flush(ctx); err != nil {
				t.Errorf("noWAL %v: Flush after failed Saves: %v", noWAL, err)
			}
		}()
		if !h216Wait(t, wrote, "writes after failed Saves") {
			return
		}
		if got := asyncErrs.Load(); got != 0 {
			t.Errorf("noWAL %v: OnAsyncError called %d times for Saves that failed at the call", noWAL, got)
		}
		h222Goroutines(t, base, fmt.Sprintf("noWAL %v: after failed Saves", noWAL))
		if err := s.Close(); err != nil {
			t.Fatalf("noWAL %v: Close: %v", noWAL, err)
		}
		s2, err := Open(path, Options{NoWAL: noWAL})
		if err != nil {
			t.Fatal(err)
		}
		tw, err := s2.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: last})
		if err != nil || tw == nil || len(tw.PendingWrites) != 50 {
			n := -1
			if tw != nil {
				n = len(tw.PendingWrites)
			}
			t.Fatalf("noWAL %v: reopened: %d pending writes (%v), want 50", noWAL, n, err)
		}
		for _, th := range []string{"s0", "s6"} {
			if _, err := s2.Latest(ctx, th); !errors.Is(err, ErrNotFound) {
				t.Fatalf("noWAL %v: thread %s of failed Saves: %v, want ErrNotFound", noWAL, th, err)
			}
		}
		_ = s2.Close()
	}
}
