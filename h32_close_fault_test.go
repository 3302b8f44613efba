package ckpt

// Close racing sixteen writers (Sync, NoSync, Async, each on a thread of
// its own) while one fsync of the log fails (the k-th; or none): Close
// comes after a set number of Saves returned, from a goroutine of its
// own, as the writers' open groups build. Reopened: every Save that
// returned nil is there with its own state and metadata, none that
// returned an error (ErrClosed, ErrFailed) is, and the Async Saves
// missing are exactly as many as OnAsyncError heard of.
// CKPT_H32_SEED picks other rounds.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

func TestCloseRacingWritersThroughAFault(t *testing.T) {
	t.Parallel()
	seed := uint64(32)
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H32_SEED"), 10, 64); err == nil {
		seed = v
	}
	for i := range uint64(6) {
		t.Run(fmt.Sprint("seed ", seed+i), func(t *testing.T) {
			t.Parallel()
			h32CloseRound(t, seed+i)
		})
	}
}

func h32CloseRound(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 33))
	failAt := int64(0) // a round in three without a fault
	if seed%3 != 0 {
		failAt = 1 + rng.Int64N(4)
	}
	closeAfter := int64(20 + rng.IntN(120)) // Saves returned before Close
	var fsyncs atomic.Int64
	hooks := engine.Hooks{LogGrow: 16 << 10, SyncLog: func(f *os.File) error {
		if fsyncs.Add(1) == failAt {
			return errInjected
		}
		return engine.Fdatasync(f)
	}}
	var reported atomic.Int64
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(path, Options{OnAsyncError: func(err error) { reported.Add(int64(asyncFailures(err))) }, tuning: &tuning{hooks: hooks}})
	if err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		thread string
		async  bool
	}
	var mu sync.Mutex
	ok, failed := map[string]outcome{}, map[string]bool{}
	var returned atomic.Int64
	closed := make(chan struct{})
	var closeErr error
	go func() {
		defer close(closed)
		// The Close comes once closeAfter Saves have returned; the
		// writers stop after it.
		for returned.Load() < closeAfter {
			if err := s.Flush(context.Background()); errors.Is(err, ErrClosed) {
				return
			}
		}
		closeErr = s.Close()
	}()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			d := [3]Durability{Async, Sync, NoSync}[w%3]
			thread := fmt.Sprintf("w%02d", w)
			wctx := WithWriteOptions(ctx, WriteOptions{Durability: d})
			for n := 0; ; n++ {
				tag := fmt.Sprintf("%s/%d", thread, n)
				_, err := s.Save(wctx, thread, map[string]any{"n": n, "tag": tag}, Metadata{"tag": tag})
				mu.Lock()
				if err == nil {
					ok[tag] = outcome{thread, d == Async}
				} else {
					failed[tag] = true
				}
				mu.Unlock()
				returned.Add(1)
				if errors.Is(err, ErrClosed) {
					return
				}
				if d == Async && n%4 == 3 {
					// Paced by the fsyncs (its error: the async
					// failures, which OnAsyncError counts).
					if errors.Is(s.Flush(ctx), ErrClosed) {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	<-closed
	r, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen (close: %v): %v", closeErr, err)
	}
	defer r.Close()
	seen := map[string]bool{}
	for w := range 16 {
		thread := fmt.Sprintf("w%02d", w)
		for tp, err := range r.List(ctx, ListOptions{ThreadID: thread}) {
			if err != nil {
				t.Fatalf("list %s: %v", thread, err)
			}
			var tag string
			if err := tp.Decode("tag", &tag); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(tp.Metadata["tag"]) != tag {
				t.Errorf("checkpoint %s holds tag %q, metadata %v", tp.Config.CheckpointID, tag, tp.Metadata)
			}
			if o, found := ok[tag]; found && o.thread != thread {
				t.Errorf("%s is in thread %s", tag, thread)
			}
			seen[tag] = true
		}
	}
	missingAsync := int64(0)
	for tag, o := range ok {
		switch {
		case seen[tag]:
		case o.async:
			missingAsync++
		default:
			t.Errorf("%s returned nil and is missing", tag)
		}
	}
	for tag := range failed {
		if seen[tag] {
			t.Errorf("%s returned an error, yet it is there", tag)
		}
	}
	if missingAsync != reported.Load() {
		t.Errorf("%d Async Saves that returned nil are missing, %d Async failures were reported", missingAsync, reported.Load())
	}
	t.Logf("fsync %d failing (%d fsyncs), Close after %d Saves: %d ok, %d failed, %d async reported; close: %v",
		failAt, fsyncs.Load(), closeAfter, len(ok), len(failed), reported.Load(), closeErr)
}
