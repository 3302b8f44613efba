package ckpt

// Panic guards and the failed state. bbolt trusts its file: a damaged page
// makes it panic ("page 94: has unexpected type/flags", a slice bound out of
// range from a damaged element count, "page N already freed") or fault on an
// address past its mapping. Every entry into bbolt (Open, reads, the
// applier, compaction, log replay, Verify) runs under guard, so the damage
// becomes an error wrapping ErrCorrupt instead of killing the process. A
// panic while bbolt writes (the applier) also fails the store: bbolt's own
// state may then be half-updated, so no write transaction is begun again.

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// guard runs fn; a panic or a memory fault inside it becomes an error
// wrapping ErrCorrupt that says what was being done and bbolt's message
// (which names the page where bbolt knows it).
func guard(what string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = panicError(what, p)
		}
	}()
	return fn()
}

func panicError(what string, p any) error {
	return &panicErr{fmt.Sprintf("%s: bbolt failed on a damaged page: %v", what, p)}
}

// panicErr is a recovered panic: it wraps ErrCorrupt, and tells Open that
// bbolt's handle may be unusable (abandonBolt, not DB.Close).
type panicErr struct{ msg string }

func (e *panicErr) Error() string { return ErrCorrupt.Error() + ": " + e.msg }
func (e *panicErr) Unwrap() error { return ErrCorrupt }

func fromPanic(err error) bool {
	var p *panicErr
	return errors.As(err, &p)
}

// recoverCorrupt is guard for a function with a named error result:
// defer recoverCorrupt(&err, what) right after setting the fault mode.
func recoverCorrupt(err *error, what string) {
	if p := recover(); p != nil {
		*err = panicError(what, p)
	}
}

// failState is embedded in Store: the first error that made the store
// stop taking writes.
type failState struct {
	failMu  sync.Mutex
	failErr error
	// poisoned: bbolt panicked while a write transaction was open, so its
	// locks may be held: Close must not wait for them.
	poisoned bool
}

// fail puts the store in the failed state (the first cause wins): every
// later write returns an error wrapping ErrFailed and err.
func (s *Store) fail(err error) {
	s.failMu.Lock()
	if s.failErr == nil {
		s.failErr = err
	}
	s.failMu.Unlock()
}

// failure returns the error writes get once the store failed, else nil.
func (s *Store) failure() error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failErr == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrFailed, s.failErr)
}

func (s *Store) poison() {
	s.failMu.Lock()
	s.poisoned = true
	s.failMu.Unlock()
}

func (s *Store) isPoisoned() bool {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.poisoned
}

// abandonBolt gives up a bbolt handle after a panic: its write lock may be
// held forever, so DB.Close could wait forever. Closing the file releases
// the file lock (so other processes, and a read-only Open in this one, get
// in); DB.Close then runs in the background to unmap the file if bbolt's
// locks allow it (else the mapping stays until the process ends).
func abandonBolt(db boltCloser, f *os.File) error {
	var err error
	if f != nil {
		if err = f.Close(); errors.Is(err, os.ErrClosed) {
			err = nil
		}
	}
	if db != nil {
		go func() { _ = db.Close() }()
	}
	return err
}

type boltCloser interface{ Close() error }

// beginGuarded begins a bbolt write transaction (loading the freelist the
// first time, which panics on a damaged freelist page). A panic there
// leaves bbolt's write lock held: the store fails and is poisoned.
func (s *Store) beginGuarded() (tx *bolt.Tx, err error) {
	err = guard("begin a write transaction", func() error {
		var err error
		tx, err = s.db.Begin(true)
		return err
	})
	if fromPanic(err) {
		s.poison()
		s.fail(err)
	}
	return tx, err
}

// guardWrite runs fn, which uses the write transaction tx, under guard. On
// a panic it rolls tx back (itself guarded: if that panics too, bbolt's
// write lock stays held and the store is poisoned) and fails the store.
func (s *Store) guardWrite(what string, tx *bolt.Tx, fn func() error) error {
	err := guard(what, fn)
	if !fromPanic(err) {
		return err
	}
	if rbErr := guard(what+": roll back", func() error {
		if err := tx.Rollback(); err != nil && !errors.Is(err, berrors.ErrTxClosed) {
			return err
		}
		return nil
	}); fromPanic(rbErr) {
		s.poison()
	}
	s.fail(err)
	return err
}
