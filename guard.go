package ckpt

// The store's side of the panic guards (engine.Guard, internal/engine/
// guard.go). Every entry into bbolt (Open, reads, the applier, compaction,
// log replay, Verify) runs under engine.Guard, so a damaged page becomes an
// error wrapping ErrCorrupt instead of killing the process. A panic while
// bbolt writes (the applier) also fails the store: bbolt's own state may
// then be half-updated, so no write transaction is begun again.

import (
	"errors"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// poison marks that bbolt panicked while a write transaction was open, so
// its locks may be held: Close must not wait for them.
func (s *Store) poison() { s.poisoned.Store(true) }

func (s *Store) isPoisoned() bool { return s.poisoned.Load() }

// beginGuarded begins a bbolt write transaction (loading the freelist the
// first time, which panics on a damaged freelist page). A panic there
// leaves bbolt's write lock held: the store fails and is poisoned. A
// store whose bbolt failed begins none (a store whose log failed still
// applies its durable groups, failstop.go) (after a panic, Begin could wait forever for
// the lock the panicking transaction still holds).
func (s *Store) beginGuarded() (tx *bolt.Tx, err error) {
	if s.boltFailed() {
		return nil, s.failed()
	}
	err = engine.Guard("begin a write transaction", func() error {
		var err error
		tx, err = s.db.Begin(true)
		return err
	})
	if engine.FromPanic(err) {
		s.poison()
		s.fail(failBolt, err)
	}
	return tx, err
}

// guardWrite runs fn, which uses the write transaction tx, under guard. On
// a panic it rolls tx back (itself guarded: if that panics too, bbolt's
// write lock stays held and the store is poisoned) and fails the store.
func (s *Store) guardWrite(what string, tx *bolt.Tx, fn func() error) error {
	err := engine.Guard(what, fn)
	if !engine.FromPanic(err) {
		return err
	}
	if rbErr := engine.Guard(what+": roll back", func() error {
		if err := tx.Rollback(); err != nil && !errors.Is(err, berrors.ErrTxClosed) {
			return err
		}
		return nil
	}); engine.FromPanic(rbErr) {
		s.poison()
	}
	s.fail(failBolt, err)
	return err
}
