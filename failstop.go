package ckpt

// Fail-stop. After a write or fsync of the log, or a commit of bbolt, fails,
// the store no longer knows what the disk holds past its last good sync: a
// failed fsync may have dropped dirty pages that a later fsync then reports
// as clean (PostgreSQL's lesson of 2018). Writing on would build new groups
// on a state that may not be there after a crash, and reusing the failed
// groups' log space or numbers could let a stale record of a failed group
// be replayed. So the store stops writing: every later write returns an
// error wrapping ErrFailed and the first cause; reads go on from what was
// durable; Close still closes; a reopen replays exactly the durable groups.

import (
	"fmt"
	"sync/atomic"
)

// failSource says which file failed: after a log failure bbolt is still
// sound and Close may apply the durable groups to it; after a bbolt
// failure nothing more is written to bbolt either.
type failSource int

const (
	failLog failSource = 1 + iota
	failBolt
)

type failure struct {
	err    error // wraps ErrFailed and the cause
	source failSource
}

// failState is embedded in Store (through asyncState).
type failState struct {
	failure atomic.Pointer[failure]
	// poisoned: bbolt panicked while a write transaction was open, so its
	// locks may be held: Close must not wait for them (guard.go).
	poisoned atomic.Bool
}

// fail puts the store in the failed state, unless it already is, and
// returns the error every write gets from now on (the first cause's).
func (s *Store) fail(src failSource, cause error) error {
	f := &failure{err: fmt.Errorf("%w: %w", ErrFailed, cause), source: src}
	if s.failure.CompareAndSwap(nil, f) {
		s.logFailStop(src, cause)
		return f.err
	}
	return s.failure.Load().err
}

// failed returns the fail-stop error, or nil while the store is sound.
func (s *Store) failed() error {
	if f := s.failure.Load(); f != nil {
		return f.err
	}
	return nil
}

// boltFailed tells whether bbolt itself failed a commit.
func (s *Store) boltFailed() bool {
	f := s.failure.Load()
	return f != nil && f.source == failBolt
}
