package engine

// The syncer: the goroutine that fsyncs the write-ahead log while the
// commit loop (commit.go) goes on logging the next groups.

import (
	"sync"
	"sync/atomic"
)

// syncResult is what the syncer reports: the log is durable up to gen.
type syncResult struct {
	gen uint64
	err error
}

// syncer fsyncs the log, so the commit loop goes on applying and logging
// the next groups while the disk works: many writers then share each fsync
// without waiting for one another. It starts the next fsync as soon as
// one ends if more was asked for by then (the applier may ask while the
// commit loop's fsync runs: durableUpTo); the commit loop itself writes
// no record while an fsync it asked for is in flight (trySeal).
type syncer struct {
	log  *Log
	want atomic.Uint64 // the commit loop wants the log durable up to this group
	poke chan struct{} // want moved (cap 1)
	// done tells the commit loop that res moved (cap 1).
	done  chan struct{}
	mu    sync.Mutex
	res   syncResult // durable up to res.gen; after a failure (res.err) the syncer stops
	moved *sync.Cond // on mu: res moved, or the syncer stopped (durableUpTo waits)
	// closed: run returned (close); the log is fsync'd by durableUpTo
	// itself from then on.
	closed bool
	stop   chan struct{}
	quit   chan struct{} // closed when run returns
	start  uint64        // durable when it started
}

func newSyncer(log *Log, durable uint64) *syncer {
	s := &syncer{log: log, poke: make(chan struct{}, 1), done: make(chan struct{}, 1),
		stop: make(chan struct{}), quit: make(chan struct{}), start: durable}
	s.want.Store(durable)
	s.res.gen = durable
	s.moved = sync.NewCond(&s.mu)
	return s
}

// ask wants the log durable up to gen (written before the call).
func (s *syncer) ask(gen uint64) {
	s.want.Store(gen)
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// run fsyncs until stopped (or until an fsync fails).
func (s *syncer) run() {
	defer close(s.quit)
	durable := s.start
	for {
		select {
		case <-s.poke:
		case <-s.stop:
			return
		}
		// Every record up to want was written before want was stored:
		// the fsync that starts after this load covers them.
		for gen := s.want.Load(); gen > durable; gen = s.want.Load() {
			err := s.log.Sync()
			s.mu.Lock()
			if err != nil {
				s.res.err = err
			} else {
				s.res.gen = gen
			}
			s.moved.Broadcast()
			s.mu.Unlock()
			select {
			case s.done <- struct{}{}:
			default:
			}
			if err != nil {
				<-s.stop // nothing is fsync'd after a failure
				return
			}
			durable = gen
		}
	}
}

// result is what the syncer has done so far.
func (s *syncer) result() syncResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.res
}

// wait blocks until the syncer reports, and returns its result.
func (s *syncer) wait() syncResult {
	<-s.done
	return s.result()
}

// close stops the syncer and waits for its fsync in progress.
func (s *syncer) close() {
	close(s.stop)
	<-s.quit
	s.mu.Lock()
	s.closed = true
	s.moved.Broadcast()
	s.mu.Unlock()
}

// closedSyncError is durableUpTo's failed fsync (the syncer's earlier
// one, or its own once the syncer is closed): the store fails, and the
// apply stops, the groups left in the log (logDurable).
type closedSyncError struct{ err error }

func (e *closedSyncError) Error() string { return e.err.Error() }
func (e *closedSyncError) Unwrap() error { return e.err }

// durableUpTo makes the log durable up to gen (its record written before
// the call), for the applier (commit.go's logDurable): it raises what the
// syncer wants to gen and waits for the fsync, instead of an fsync of its
// own (the log's fsyncs are one at a time anyway, Log.fsync: the kernel
// reports a write-back error once per open file). Once the syncer is
// closed (Close applies what is left), it fsyncs the log itself.
func (s *syncer) durableUpTo(gen uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.res.gen >= gen:
			return nil
		case s.res.err != nil:
			// The log failed (the store with it): no fsync of it can be
			// trusted now. Its records past gen are readable (the page
			// cache) but may never be durable: bbolt taking them would
			// put its mark past the log's durable end, and a power cut
			// that brings the log back (Close's removal is not fsync'd)
			// leaves a pair Open refuses as damage. They stay in the log:
			// the next Open replays what of them is there.
			return &closedSyncError{s.res.err}
		case s.closed:
			if err := s.log.Sync(); err != nil {
				// As after the syncer's own failure: the store fails
				// (the caller hears of it), and bbolt takes none of
				// the groups this fsync should have covered.
				s.res.err = err
				return &closedSyncError{err}
			}
			s.res.gen = gen
			return nil
		}
		// The commit loop stores only what it has written, which is at
		// least gen by now: a raise never lowers what it asked for.
		for want := s.want.Load(); want < gen && !s.want.CompareAndSwap(want, gen); want = s.want.Load() {
		}
		select {
		case s.poke <- struct{}{}:
		default:
		}
		s.moved.Wait()
	}
}
