package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h222: the pump that calls Verify's Progress (verify_progress.go) must
// deliver the last count noted whatever state its goroutine is in when
// Verify finishes, leave no goroutine behind, and let the callback call
// the store (Verify, Close) without hanging it.

// TestH222PumpDeliversLastCountAtFinish: the callback is busy with count 1
// when counts 2 and 3 are noted and finish is called; the wake those notes
// left is taken away, so only finish's own delivery can hand over 3 (with
// the wake left, the goroutine's select picks the wake or the stop at
// random, and a finish that drops the last count passes half the time:
// the 64 rounds with it left catch that too, all but surely).
func TestH222PumpDeliversLastCountAtFinish(t *testing.T) {
	for round := range 65 {
		drainWake := round == 0
		var mu sync.Mutex
		var got []int
		entered := make(chan struct{})
		release := make(chan struct{})
		p := startProgress(func(n int) {
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
			if n == 1 {
				close(entered)
				<-release
			}
		})
		p.note(1)
		<-entered
		p.note(2)
		p.note(3)
		if drainWake {
			<-p.wake
		}
		finished := make(chan struct{})
		go func() { defer close(finished); p.finish() }()
		<-p.stop // finish has asked for the last count
		close(release)
		<-finished
		mu.Lock()
		last := got[len(got)-1]
		g := append([]int(nil), got...)
		mu.Unlock()
		if last != 3 {
			t.Fatalf("round %d (wake taken away: %v): Progress got %v, want the last count 3 delivered by finish", round, drainWake, g)
		}
	}
}

// h222Goroutines waits until the number of goroutines is at most base
// (a goroutine that closed its done channel may still be running its
// last defers) and fails if it stays above it.
func h222Goroutines(t *testing.T, base int, what string) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	t.Fatalf("%s: %d goroutines, %d before; goroutines:\n%s", what, runtime.NumGoroutine(), base, buf[:n])
}

func h222Store(t *testing.T, noWAL bool, threads int) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: noWAL})
	if err != nil {
		t.Fatal(err)
	}
	for i := range threads {
		if _, err := s.Save(context.Background(), fmt.Sprint("t", i), map[string]any{"x": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return s, path
}

// TestH222VerifyCancelledWhileProgressBlocks: ctx is cancelled while the
// callback blocks in its first call; Verify returns only after the call
// returned, calls nothing after, and leaves no goroutine.
func TestH222VerifyCancelledWhileProgressBlocks(t *testing.T) {
	for _, noWAL := range []bool{false, true} {
		s, _ := h222Store(t, noWAL, 50)
		base := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		entered := make(chan struct{})
		release := make(chan struct{})
		var inCall, returned atomic.Bool
		var calls atomic.Int32
		done := make(chan struct{})
		var verr error
		go func() {
			defer close(done)
			_, verr = s.Verify(ctx, VerifyOptions{Progress: func(n int) {
				if returned.Load() {
					t.Errorf("noWAL %v: Progress(%d) after Verify returned", noWAL, n)
				}
				inCall.Store(true)
				if calls.Add(1) == 1 {
					close(entered)
					<-release
				}
				inCall.Store(false)
			}})
			if inCall.Load() {
				t.Errorf("noWAL %v: Verify returned while its Progress ran", noWAL)
			}
			returned.Store(true)
		}()
		<-entered
		cancel()
		select {
		case <-done:
			t.Errorf("noWAL %v: Verify returned while its Progress blocked", noWAL)
		case <-time.After(50 * time.Millisecond): // a chance to return early
		}
		close(release)
		<-done
		if verr != nil && !errors.Is(verr, context.Canceled) {
			t.Errorf("noWAL %v: Verify: %v", noWAL, verr)
		}
		h222Goroutines(t, base, fmt.Sprintf("noWAL %v: after a cancelled Verify", noWAL))
		// The store still takes writes and a Verify.
		if _, err := s.Save(context.Background(), "after", map[string]any{"x": 1}, nil); err != nil {
			t.Fatalf("noWAL %v: Save after: %v", noWAL, err)
		}
		if rep, err := s.Verify(context.Background(), VerifyOptions{}); err != nil || !rep.OK() {
			t.Fatalf("noWAL %v: Verify after: %v %+v", noWAL, err, rep)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestH222VerifyProgressPanicLeavesStoreUsable: the panic is raised on
// Verify's caller's goroutine (recovered there), no goroutine or read
// transaction stays behind (a write that grows the map would wait for
// it; Close would too), and the store works after.
func TestH222VerifyProgressPanicLeavesStoreUsable(t *testing.T) {
	for _, noWAL := range []bool{false, true} {
		s, _ := h222Store(t, noWAL, 30)
		base := runtime.NumGoroutine()
		for i := range 20 {
			func() {
				defer func() {
					if p := recover(); p != "h222" {
						t.Fatalf("noWAL %v: recovered %v", noWAL, p)
					}
				}()
				_, _ = s.Verify(context.Background(), VerifyOptions{Progress: func(n int) {
					if n >= 1+i%3 {
						panic("h222")
					}
				}})
				t.Fatalf("noWAL %v: Verify returned past the panic", noWAL)
			}()
		}
		h222Goroutines(t, base, fmt.Sprintf("noWAL %v: after panicking Progress", noWAL))
		if _, err := s.Save(context.Background(), "big", h216Big(), nil); err != nil {
			t.Fatalf("noWAL %v: Save after: %v", noWAL, err)
		}
		if rep, err := s.Verify(context.Background(), VerifyOptions{}); err != nil || !rep.OK() {
			t.Fatalf("noWAL %v: Verify after: %v %+v", noWAL, err, rep)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("noWAL %v: Close: %v", noWAL, err)
		}
	}
}

// TestH222VerifyProgressConcurrentNestedClose: two Verifys at once, each
// with its callback; a callback that runs a Verify itself; a read-only
// handle; a callback that closes the store.
func TestH222VerifyProgressConcurrentNestedClose(t *testing.T) {
	for _, noWAL := range []bool{false, true} {
		s, path := h222Store(t, noWAL, 40)
		base := runtime.NumGoroutine()
		var wg sync.WaitGroup
		var last [2]atomic.Int64
		for g := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rep, err := s.Verify(context.Background(), VerifyOptions{Progress: func(n int) { last[g].Store(int64(n)) }})
				if err != nil || !rep.OK() || rep.Threads != 40 {
					t.Errorf("noWAL %v: concurrent Verify %d: %v %+v", noWAL, g, err, rep)
				}
				if last[g].Load() != 40 {
					t.Errorf("noWAL %v: concurrent Verify %d: last count %d, want 40", noWAL, g, last[g].Load())
				}
			}()
		}
		wg.Wait()
		var nested atomic.Int32
		var innerLast atomic.Int64
		rep, err := s.Verify(context.Background(), VerifyOptions{Progress: func(n int) {
			if nested.Add(1) != 1 {
				return
			}
			r, err := s.Verify(context.Background(), VerifyOptions{Progress: func(n int) { innerLast.Store(int64(n)) }})
			if err != nil || !r.OK() {
				t.Errorf("noWAL %v: nested Verify: %v %+v", noWAL, err, r)
			}
		}})
		if err != nil || !rep.OK() || innerLast.Load() != 40 {
			t.Fatalf("noWAL %v: Verify with a nested one: %v %+v, inner last %d", noWAL, err, rep, innerLast.Load())
		}
		h222Goroutines(t, base, fmt.Sprintf("noWAL %v: after concurrent and nested Verifys", noWAL))
		var closeErr error
		var closed atomic.Bool
		_, err = s.Verify(context.Background(), VerifyOptions{Progress: func(n int) {
			if closed.CompareAndSwap(false, true) {
				closeErr = s.Close()
			}
		}})
		if closeErr != nil {
			t.Fatalf("noWAL %v: Close from Progress: %v (Verify: %v)", noWAL, closeErr, err)
		}
		if _, err := s.Save(context.Background(), "x", map[string]any{"x": 1}, nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("noWAL %v: Save after Close from Progress: %v", noWAL, err)
		}
		ro, err := Open(path, Options{ReadOnly: true, NoWAL: noWAL})
		if err != nil {
			t.Fatal(err)
		}
		var roLast atomic.Int64
		if rep, err := ro.Verify(context.Background(), VerifyOptions{Progress: func(n int) { roLast.Store(int64(n)) }}); err != nil || !rep.OK() || roLast.Load() != 40 {
			t.Fatalf("noWAL %v: read-only Verify: %v %+v last %d", noWAL, err, rep, roLast.Load())
		}
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
