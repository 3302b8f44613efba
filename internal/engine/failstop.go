package engine

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
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrFailed: an earlier write or fsync of the log or the file failed, so
// the store stopped taking writes (the root package re-exports it).
var ErrFailed = errors.New("ckpt: store failed after an I/O error; reopen it")

// FailSource says which file failed: after a log failure bbolt is still
// sound and Close may apply the durable groups to it; after a bbolt
// failure nothing more is written to bbolt either.
type FailSource int

const (
	FailLog FailSource = 1 + iota
	FailBolt
)

type failure struct {
	err    error // wraps ErrFailed and the cause
	source FailSource
}

// FailState is a store's fail-stop state. Its zero value is sound.
type FailState struct {
	failure atomic.Pointer[failure]
	// poisoned: bbolt panicked while a write transaction was open, so its
	// locks may be held: Close must not wait for them (guard.go).
	poisoned atomic.Bool
	// stuck: bbolt faulted beginning a read transaction, with its meta
	// and map locks taken: no transaction can begin again (BeginRead).
	stuck atomic.Bool
	// OnFail, if set, is called once, by the call that fails the store
	// (the root package logs the fail-stop with it).
	OnFail func(src FailSource, cause error)
}

// Fail puts the store in the failed state, unless it already is, and
// returns the error every write gets from now on (the first cause's).
func (f *FailState) Fail(src FailSource, cause error) error {
	fl := &failure{err: fmt.Errorf("%w: %w", ErrFailed, cause), source: src}
	if f.failure.CompareAndSwap(nil, fl) {
		if f.OnFail != nil {
			f.OnFail(src, cause)
		}
		return fl.err
	}
	return f.failure.Load().err
}

// Failed returns the fail-stop error, or nil while the store is sound.
func (f *FailState) Failed() error {
	if fl := f.failure.Load(); fl != nil {
		return fl.err
	}
	return nil
}

// BoltFailed tells whether bbolt itself failed a commit.
func (f *FailState) BoltFailed() bool {
	fl := f.failure.Load()
	return fl != nil && fl.source == FailBolt
}

// Poison marks that bbolt panicked while a write transaction was open, so
// its locks may be held: Close must not wait for them.
func (f *FailState) Poison() { f.poisoned.Store(true) }

// Poisoned tells whether Poison was called.
func (f *FailState) Poisoned() bool { return f.poisoned.Load() }

// errBeginFault marks a fault inside bbolt's Begin of a read transaction.
var errBeginFault = errors.New("bbolt's meta and map locks stay held")

// BeginRead begins a bbolt read transaction under Guard. bbolt reads the
// meta page while it holds its meta lock and its map lock: a fault there
// (the file cut short under the store) leaves both held for good, and
// every later Begin (read or write), the end of every read transaction
// still open, and DB.Close would wait forever. The handle is then marked
// stuck: BeginRead and BeginWrite refuse it and EndRead leaves its
// transactions open. The error wraps ErrCorrupt and errBeginFault, which
// FailState.Began turns into a failed, poisoned store (Close abandons the
// handle).
func BeginRead(db *bolt.DB) (tx *bolt.Tx, err error) {
	if isStuck(db) {
		return nil, errStuck
	}
	err = Guard("begin a read transaction", func() error {
		var err error
		tx, err = db.Begin(false)
		return err
	})
	if FromPanic(err) {
		stuckDBs.Store(db, struct{}{})
		anyStuck.Store(true)
		return nil, fmt.Errorf("%w (%w)", err, errBeginFault)
	}
	return tx, err
}

// EndRead ends a read transaction that BeginRead began, unless its handle
// is stuck: its Rollback would then wait forever for bbolt's meta lock.
func EndRead(tx *bolt.Tx) {
	if db := tx.DB(); db != nil && isStuck(db) {
		return
	}
	// Not ordered with a Begin that faults: a Rollback that reached
	// bbolt's meta lock before the fault still waits for ever (ordering
	// both with a mutex of ours deadlocks with a remap, which waits for
	// this Rollback's map lock while a Begin holds the mutex).
	_ = tx.Rollback()
}

var (
	// stuckDBs holds the handles whose Begin faulted (BeginRead): a set
	// that only grows, by one handle per such fault. Keyed by handle, not
	// kept by the engine, so that every place that begins or ends a read
	// sees it, the root package's included.
	stuckDBs sync.Map
	anyStuck atomic.Bool // a fast path for the usual case: none
	errStuck = fmt.Errorf("%w: an earlier read faulted in bbolt on this file (%w)", ErrCorrupt, errBeginFault)
)

func isStuck(db *bolt.DB) bool {
	if !anyStuck.Load() {
		return false
	}
	_, ok := stuckDBs.Load(db)
	return ok
}

// Stuck tells whether a Begin faulted in bbolt (BeginRead): nothing may
// call Begin on the handle again, only AbandonBolt.
func (f *FailState) Stuck() bool { return f.stuck.Load() }

// Began checks the error of a BeginRead: a fault inside bbolt's Begin
// fails and poisons the store, and marks it stuck. It returns err (the
// fail-stop error after a fault).
func (f *FailState) Began(err error) error {
	if !errors.Is(err, errBeginFault) {
		return err
	}
	// Failed before stuck: a call that sees stuck finds the cause.
	err = f.Fail(FailBolt, err)
	f.Poison()
	f.stuck.Store(true)
	return err
}

// StuckErr is the error of a call refused because a Begin faulted: the
// fail-stop error, or, while another goroutine is still failing the store,
// errStuck (never nil).
func (f *FailState) StuckErr() error {
	if err := f.Failed(); err != nil {
		return err
	}
	return errStuck
}

// Every entry into bbolt runs under Guard (guard.go). A panic while bbolt
// writes (the applier) also fails the store: bbolt's own state may then be
// half-updated, so no write transaction is begun again.

// BeginWrite begins a bbolt write transaction (loading the freelist the
// first time, which panics on a damaged freelist page). A panic there
// leaves bbolt's write lock held: the store fails and is poisoned. A store
// whose bbolt failed begins none (a store whose log failed still applies
// its durable groups), since after a panic Begin could wait forever for
// the lock the panicking transaction still holds.
func (f *FailState) BeginWrite(db *bolt.DB) (tx *bolt.Tx, err error) {
	if f.BoltFailed() || f.Stuck() || isStuck(db) {
		return nil, f.StuckErr()
	}
	err = Guard("begin a write transaction", func() error {
		var err error
		tx, err = db.Begin(true)
		return err
	})
	if FromPanic(err) {
		f.Poison()
		f.Fail(FailBolt, err)
	}
	return tx, err
}

// GuardWrite runs fn, which uses the write transaction tx, under Guard. On
// a panic it rolls tx back (itself guarded: if that panics too, bbolt's
// write lock stays held and the store is poisoned) and fails the store.
func (f *FailState) GuardWrite(what string, tx *bolt.Tx, fn func() error) error {
	err := Guard(what, fn)
	if !FromPanic(err) {
		return err
	}
	if rbErr := Guard(what+": roll back", func() error {
		if err := tx.Rollback(); err != nil && !errors.Is(err, berrors.ErrTxClosed) {
			return err
		}
		return nil
	}); FromPanic(rbErr) {
		f.Poison()
	}
	f.Fail(FailBolt, err)
	return err
}
