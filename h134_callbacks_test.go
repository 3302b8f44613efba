package ckpt

// OnAsyncError runs off the commit loop: from inside it the store may be
// called like from anywhere else (a Sync write, Flush, an Async write,
// Close), its calls come one at a time in the order of the failures, a
// callback that blocks holds up no write, and what it has not heard of
// yet while it blocks is bounded (collapsed past engine.MaxAsyncErrs,
// counted, never dropped). A store that hangs fails these tests after
// detect (a hang detector, not a timing threshold) and is left open, so
// that the package goes on.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// missingParent is a checkpoint id no test writes: an Async Put naming it
// as parent is acknowledged, then fails in the commit loop (ErrNotFound,
// naming its thread).
const missingParent = "01ARZ3NDEKTSV4RRFFQ69G5FAV"

// failAsync queues an Async Put to thread that fails after it returned.
func failAsync(t *testing.T, s *Store, thread string) {
	t.Helper()
	ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: Async})
	if _, err := s.Put(ctx, Config{ThreadID: thread, CheckpointID: missingParent}, Checkpoint{}, nil, nil); err != nil {
		t.Fatalf("async put to %s returned %v before it was applied", thread, err)
	}
}

// returns runs call in a goroutine and reports whether it returned
// within detect; it fails the test if not.
func returns(t *testing.T, what string, call func()) bool {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		call()
	}()
	select {
	case <-done:
		return true
	case <-time.After(detect):
		t.Errorf("%s did not return in %v: the store hangs (left open)", what, detect)
		return false
	}
}

// TestOnAsyncErrorMayCallTheStore: from inside OnAsyncError, a Sync Put
// to another thread, a Flush with no deadline, an Async Put and Close
// each return; after the first three the store goes on working for
// everyone, and the Close returns the async failure (the store's later
// Close says ErrClosed).
func TestOnAsyncErrorMayCallTheStore(t *testing.T) {
	t.Parallel()
	syncCtx := WithWriteOptions(context.Background(), WriteOptions{Durability: Sync})
	asyncCtx := WithWriteOptions(context.Background(), WriteOptions{Durability: Async})
	for _, tc := range []struct {
		name string
		call func(s *Store) error
		// want checks the call's outcome.
		want func(err error) bool
	}{
		{"sync put", func(s *Store) error {
			_, err := s.Put(syncCtx, Config{ThreadID: "other"}, Checkpoint{}, nil, nil)
			return err
		}, func(err error) bool { return err == nil }},
		{"flush", func(s *Store) error { return s.Flush(context.Background()) },
			// The failure being heard of was not taken yet: Flush takes it.
			func(err error) bool { return errors.Is(err, ErrNotFound) }},
		{"async put", func(s *Store) error {
			_, err := s.Put(asyncCtx, Config{ThreadID: "other"}, Checkpoint{}, nil, nil)
			return err
		}, func(err error) bool { return err == nil }},
		{"close", func(s *Store) error { return s.Close() },
			// Close returns the async failures not taken by a Flush.
			func(err error) bool { return errors.Is(err, ErrNotFound) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s *Store
			var calls atomic.Int32
			outcome := make(chan error, 1)
			var err error
			s, err = Open(filepath.Join(t.TempDir(), "cb.db"), Options{OnAsyncError: func(error) {
				if calls.Add(1) == 1 {
					outcome <- tc.call(s)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			failAsync(t, s, "f")
			var got error
			if !returns(t, tc.name+" from inside OnAsyncError", func() { got = <-outcome }) {
				return
			}
			if !tc.want(got) {
				t.Errorf("%s from inside OnAsyncError: %v", tc.name, got)
			}
			if tc.name == "close" {
				if err := s.Close(); !errors.Is(err, ErrClosed) {
					t.Errorf("Close after the callback's Close: %v, want ErrClosed", err)
				}
				if n := calls.Load(); n != 1 {
					t.Errorf("OnAsyncError was called %d times, want 1", n)
				}
				return
			}
			// The store goes on: a Sync write and a Flush from here.
			var putErr, flushErr error
			if !returns(t, "a Sync Put after the callback", func() {
				_, putErr = s.Put(syncCtx, Config{ThreadID: "after"}, Checkpoint{}, nil, nil)
				flushErr = s.Flush(context.Background())
			}) {
				return
			}
			if putErr != nil {
				t.Errorf("a Sync Put after the callback: %v", putErr)
			}
			// The failure heard of, unless the callback's own Flush took it.
			if took := tc.name == "flush"; errors.Is(flushErr, ErrNotFound) == took || (took && flushErr != nil) {
				t.Errorf("a Flush after the callback: %v", flushErr)
			}
			n := 0
			for _, err := range s.List(context.Background(), ListOptions{ThreadID: "other"}) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if want := map[bool]int{true: 1}[strings.HasSuffix(tc.name, "put")]; n != want {
				t.Errorf("the callback's calls left %d checkpoints in its thread, want %d", n, want)
			}
			var closeErr error
			if !returns(t, "Close", func() { closeErr = s.Close() }) {
				return
			}
			if closeErr != nil {
				t.Errorf("Close: %v", closeErr)
			}
		})
	}
}

// TestOnAsyncErrorHearsFailuresInOrderOneAtATime: a callback that blocks
// holds up no write (a Sync Put behind 199 failing Async Puts returns);
// what fails meanwhile is heard of once it returns, in order, one call
// at a time: the first engine.MaxAsyncErrs whole, the rest as one error
// that counts them and wraps the last. Close waits until every call is
// made, and none is made after it returns.
func TestOnAsyncErrorHearsFailuresInOrderOneAtATime(t *testing.T) {
	t.Parallel()
	const failures = 200
	var (
		mu      sync.Mutex
		heard   []error
		in      atomic.Int32
		closed  atomic.Bool
		trouble []string
	)
	entered, release := make(chan struct{}), make(chan struct{})
	s, err := Open(filepath.Join(t.TempDir(), "order.db"), Options{OnAsyncError: func(err error) {
		if in.Add(1) != 1 {
			mu.Lock()
			trouble = append(trouble, "two calls at once")
			mu.Unlock()
		}
		defer in.Add(-1)
		if closed.Load() {
			mu.Lock()
			trouble = append(trouble, "a call after Close returned")
			mu.Unlock()
		}
		mu.Lock()
		heard = append(heard, err)
		first := len(heard) == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	thread := func(i int) string { return fmt.Sprintf("f%03d", i) }
	failAsync(t, s, thread(0))
	if !returns(t, "the first callback", func() { <-entered }) {
		return
	}
	for i := 1; i < failures; i++ {
		failAsync(t, s, thread(i))
	}
	var putErr error
	if !returns(t, "a Sync Put while OnAsyncError blocks", func() {
		_, putErr = s.Put(WithWriteOptions(context.Background(), WriteOptions{Durability: Sync}), Config{ThreadID: "ok"}, Checkpoint{}, nil, nil)
	}) {
		return
	}
	if putErr != nil {
		t.Fatalf("Sync Put: %v", putErr)
	}
	close(release)
	var closeErr error
	if !returns(t, "Close", func() { closeErr = s.Close() }) {
		return
	}
	closed.Store(true)
	if !errors.Is(closeErr, ErrNotFound) {
		t.Errorf("Close: %v, want the async failures", closeErr)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, tr := range trouble {
		t.Error(tr)
	}
	whole := engine.MaxAsyncErrs
	if len(heard) != 1+whole+1 {
		t.Fatalf("OnAsyncError was called %d times, want %d", len(heard), 1+whole+1)
	}
	for i := range 1 + whole {
		if want := fmt.Sprintf("%q", thread(i)); !errors.Is(heard[i], ErrNotFound) || !strings.Contains(heard[i].Error(), want) {
			t.Errorf("call %d heard %v, want the failure of thread %s", i, heard[i], want)
		}
	}
	last := heard[len(heard)-1]
	more := fmt.Sprintf("%d more", failures-1-whole)
	if !errors.Is(last, ErrNotFound) || !strings.Contains(last.Error(), more) || !strings.Contains(last.Error(), fmt.Sprintf("%q", thread(failures-1))) {
		t.Errorf("the last call heard %v, want one error that counts %s and wraps the failure of %s", last, more, thread(failures-1))
	}
}

// TestCloseFromOnAsyncErrorEndsTheCalls: a Close from inside the callback
// returns without waiting for it; the failures queued behind the call are
// not heard of (no call starts after that Close), and Close's error holds
// every failure no Flush took.
func TestCloseFromOnAsyncErrorEndsTheCalls(t *testing.T) {
	t.Parallel()
	const failures = 4
	var s *Store
	var calls atomic.Int32
	queued := make(chan struct{})
	outcome := make(chan error, 1)
	var err error
	s, err = Open(filepath.Join(t.TempDir(), "close.db"), Options{OnAsyncError: func(error) {
		if calls.Add(1) == 1 {
			<-queued
			outcome <- s.Close()
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	thread := func(i int) string { return fmt.Sprintf("c%d", i) }
	for i := range failures {
		failAsync(t, s, thread(i))
	}
	// Past the failures in the queue: every one is noted once it returns.
	if _, err := s.Put(WithWriteOptions(context.Background(), WriteOptions{Durability: Sync}), Config{ThreadID: "ok"}, Checkpoint{}, nil, nil); err != nil {
		t.Fatal(err)
	}
	close(queued)
	var closeErr error
	if !returns(t, "Close from inside OnAsyncError", func() { closeErr = <-outcome }) {
		return
	}
	for i := range failures {
		if want := fmt.Sprintf("%q", thread(i)); !errors.Is(closeErr, ErrNotFound) || !strings.Contains(fmt.Sprint(closeErr), want) {
			t.Errorf("Close from inside OnAsyncError: %v, want the failure of thread %s", closeErr, want)
		}
	}
	// The store is closed: a later Close says so; no call came after.
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("a second Close: %v, want ErrClosed", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("OnAsyncError was called %d times, want 1", n)
	}
}
