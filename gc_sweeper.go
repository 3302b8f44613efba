package ckpt

// The background sweeper: GC on an interval (Options.SweepInterval) until
// Close.

import (
	"context"
	"sync"
	"time"
)

// sweeper runs GC in the background until stopped.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startSweeper runs GC with p every interval until stopSweeper.
func (s *Store) startSweeper(interval time.Duration, p Policy, onSweep func(GCStats, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	sw := &sweeper{cancel: cancel, done: make(chan struct{})}
	s.sweep = sw
	go func() {
		defer close(sw.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
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
// sweep in progress ends after its current transaction.
func (s *Store) stopSweeper() {
	if sw := s.sweep; sw != nil {
		sw.once.Do(func() {
			sw.cancel()
			<-sw.done
		})
	}
}
