package ckpt

// The background sweeper: GC on an interval (Options.SweepInterval) until
// Close.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// sweeper runs GC in the background until stopped.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	g      atomic.Uint64 // the sweeper's goroutine id (engine.GoID), once known
}

// startSweeper runs GC with p every interval until stopSweeper.
func (s *Store) startSweeper(interval time.Duration, p Policy, onSweep func(GCStats, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	sw := &sweeper{cancel: cancel, done: make(chan struct{})}
	s.sweep = sw
	go func() {
		defer close(sw.done)
		sw.g.Store(engine.GoID())
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if ctx.Err() != nil {
				// Both were ready: stopped. No sweep (nor OnSweep call)
				// starts after stopSweeper, even one that did not wait.
				return
			}
			st, err := s.GC(ctx, p)
			if ctx.Err() != nil {
				// Stopped by Close: report what was done, without the
				// cancellation as an error.
				err = nil
			}
			if onSweep != nil {
				onSweep(st, err)
			}
		}
	}()
}

// stopSweeper stops the background sweeper (if any) and waits for it: a
// sweep in progress ends after its current transaction. Called from the
// sweeper itself (a Close from inside OnSweep), it does not wait for
// itself: the sweeper ends once OnSweep returns.
func (s *Store) stopSweeper() {
	if sw := s.sweep; sw != nil {
		sw.cancel()
		if g := sw.g.Load(); g != 0 && engine.GoID() == g {
			return
		}
		sw.once.Do(func() { <-sw.done })
	}
}
