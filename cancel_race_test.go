package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

// Writes whose context is cancelled at random moments, and a Close racing
// them and reads: each call either returns nil and its write is there,
// exact, after a reopen, or returns an error and its write never shows up.
// The store's goroutines end with Close. Sync, NoSync and Async (an Async
// write is acknowledged when queued; its context ending later must not
// drop it), with and without the log.
//
// Not parallel: it counts the process's goroutines, so no other test may
// start or end any meanwhile.
func TestCancelledWritesAndCloseRacingThem(t *testing.T) {
	for _, c := range []struct {
		name string
		opts ckpt.Options
	}{
		{"sync", ckpt.Options{}},
		{"nosync", ckpt.Options{Durability: ckpt.NoSync}},
		{"async", ckpt.Options{Durability: ckpt.Async}},
		{"nowal", ckpt.Options{NoWAL: true}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rounds := 4
			if raceEnabled {
				rounds = 2 // not parallel: it adds to the package's -race run
			}
			for round := range rounds {
				cancelRound(t, c.opts, uint64(round))
			}
		})
	}
}

type cancelOutcome struct {
	thread, id, parent string
	put                bool // the Put returned nil
	writes             int  // 0: none tried; 1: PutWrites returned nil; -1: an error
	value              string
}

func cancelRound(t *testing.T, opts ckpt.Options, seed uint64) {
	path := filepath.Join(t.TempDir(), "cancel.db")
	before := runtime.NumGoroutine()
	s, err := ckpt.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	const writers, steps = 6, 40
	outcomes := make([][]cancelOutcome, writers)
	var wg sync.WaitGroup
	// Close once the writers made a random number of calls: mid-way
	// through, so that calls are in flight.
	var calls atomic.Int64
	closeAt := int64(writers * (5 + rng.IntN(steps-5)))
	for w := range writers {
		wseed := rng.Uint64()
		wg.Go(func() {
			r := rand.New(rand.NewPCG(wseed, 2))
			thread := fmt.Sprint("t", w)
			parent := ""
			for step := range steps {
				ctx, cancel := context.WithCancel(context.Background())
				// Cancelled now, soon, or never.
				switch r.IntN(4) {
				case 0:
					cancel()
				case 1:
					time.AfterFunc(time.Duration(r.IntN(300))*time.Microsecond, cancel)
				case 2:
					go func() { runtime.Gosched(); cancel() }()
				}
				id := ulid.Make().String()
				o := cancelOutcome{thread: thread, id: id, parent: parent, value: fmt.Sprintf("%s step %d", thread, step)}
				_, err := s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointID: parent},
					ckpt.Checkpoint{ID: id, ChannelValues: map[string]any{"x": o.value}, ChannelVersions: map[string]string{"x": id}},
					ckpt.Metadata{"step": step}, map[string]string{"x": id})
				o.put = err == nil
				calls.Add(1)
				if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ckpt.ErrClosed) && !errors.Is(err, ckpt.ErrNotFound) {
					t.Errorf("Put: %v", err)
				}
				if o.put {
					werr := s.PutWrites(ctx, ckpt.Config{ThreadID: thread, CheckpointID: id}, []ckpt.Write{{Channel: "x", Value: o.value}}, "task", "")
					o.writes = 1
					if werr != nil {
						o.writes = -1
						if !errors.Is(werr, context.Canceled) && !errors.Is(werr, ckpt.ErrClosed) {
							t.Errorf("PutWrites: %v", werr)
						}
					}
					parent = id
				}
				cancel()
				outcomes[w] = append(outcomes[w], o)
			}
		})
	}
	// Readers beside, until the store is closed.
	for range 2 {
		wg.Go(func() {
			for {
				_, err := s.GetTuple(context.Background(), ckpt.Config{ThreadID: "t0"})
				if errors.Is(err, ckpt.ErrClosed) {
					return
				}
				for _, err := range s.List(context.Background(), ckpt.ListOptions{ThreadID: "t1", Limit: 3}) {
					if err != nil && !errors.Is(err, ckpt.ErrClosed) {
						t.Errorf("List: %v", err)
					}
				}
			}
		})
	}
	for calls.Load() < closeAt {
		time.Sleep(100 * time.Microsecond)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	// The store's goroutines are gone (the test's own ended above).
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after Close, %d before Open:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}

	s, err = ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	acked, refused := 0, 0
	for _, os := range outcomes {
		for _, o := range os {
			tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: o.thread, CheckpointID: o.id})
			if !o.put {
				refused++
				if !errors.Is(err, ckpt.ErrNotFound) {
					t.Fatalf("%s %s: Put returned an error, yet the checkpoint reads: %v", o.thread, o.id, err)
				}
				continue
			}
			acked++
			if err != nil {
				t.Fatalf("%s %s: acknowledged, lost: %v", o.thread, o.id, err)
			}
			var got string
			if err := tp.Decode("x", &got); err != nil || got != o.value {
				t.Fatalf("%s %s: x = %q (%v), want %q", o.thread, o.id, got, err, o.value)
			}
			if (o.parent == "") != (tp.ParentConfig == nil) || tp.ParentConfig != nil && tp.ParentConfig.CheckpointID != o.parent {
				t.Fatalf("%s %s: parent %+v, want %q", o.thread, o.id, tp.ParentConfig, o.parent)
			}
			switch {
			case o.writes == 1 && len(tp.PendingWrites) != 1:
				t.Fatalf("%s %s: acknowledged pending write lost", o.thread, o.id)
			case o.writes == -1 && len(tp.PendingWrites) != 0:
				t.Fatalf("%s %s: PutWrites returned an error, yet its write reads", o.thread, o.id)
			}
		}
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", err, rep.Problems)
	}
	t.Logf("%d checkpoints acknowledged, %d refused", acked, refused)
}
