package ckpt

import (
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestCloseFromOnSweepReturns: a Close from inside OnSweep (the sweeper's
// goroutine) returns instead of waiting for the sweeper, which waits for
// it; no sweep is reported after it, and a later Close says ErrClosed. A
// store that hangs fails after detect and is left open.
func TestCloseFromOnSweepReturns(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	opened := make(chan *Store, 1) // a sweep may end before Open returns
	outcome := make(chan error, 1)
	s, err := Open(filepath.Join(t.TempDir(), "sweep.db"), Options{
		SweepInterval: time.Millisecond,
		SweepPolicy:   Policy{KeepLast: 1},
		OnSweep: func(GCStats, error) {
			if calls.Add(1) == 1 {
				outcome <- (<-opened).Close()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	opened <- s
	var closeErr error
	if !returns(t, "Close from inside OnSweep", func() { closeErr = <-outcome }) {
		return
	}
	if closeErr != nil {
		t.Errorf("Close from inside OnSweep: %v", closeErr)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("a second Close: %v, want ErrClosed", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("OnSweep was called %d times, want 1", n)
	}
}
