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
//
// One failure is not a fail-stop: a write, ftruncate or growth that found
// no room before anything of it was fsync'd leaves the disk's state known
// (diskfull.go): that write fails alone with ErrDiskFull.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrFailed: an earlier write or fsync of the log or the file failed, or
// a write found the file damaged, so the store stopped taking writes (the
// root package re-exports it).
var ErrFailed = errors.New("ckpt: store failed after an I/O error; reopen it")

// errFailedOnDamage is ErrFailed (errors.Is) in the words of a store
// failed by damage its checks found (a cause wrapping ErrCorrupt, as the
// WAL applier's descent check gives): no I/O failed, and words saying one
// did would send an operator to the disk rather than to the file. Nor do
// they say "reopen it": the damage is in a page of the file, which a
// read-write reopen and `ckpt recover` refuse (DamagedFileAdvice says the
// way that reads the writes acknowledged: TestH254DeleteOfAThreadDamagedUnderTheOpenStoreStaysDeleted).
var errFailedOnDamage error = failedOnDamage{}

type failedOnDamage struct{}

func (failedOnDamage) Error() string {
	return "ckpt: store failed on damage found in its file; " + DamagedFileAdvice
}

// DamagedFileAdvice is what to do with a file whose page check
// (precheck.go) failed: a read-write Open refuses it (Open, `ckpt
// recover`, which open it so), and a read-only Open reads what the damage
// does not hide, the writes of the log beside it too (a logged delete of
// the damaged thread is read as deleted).
const DamagedFileAdvice = "a read-write Open and `ckpt recover` refuse a file with a damaged page: open it read-only " +
	"(it reads the writes of the log beside it too) and save its sound threads into a new store with Export's SkipDamaged " +
	"(`ckpt export --skip-damaged`, then `ckpt import`), or restore a backup"

// withDamagedFileAdvice adds DamagedFileAdvice to err, a read-write
// Open's refusal of the file by its page check, if it is damage
// (ErrCorrupt): the page it names alone said nothing of the way out.
func withDamagedFileAdvice(err error) error {
	if errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("%w; %s", err, DamagedFileAdvice)
	}
	return err
}
func (failedOnDamage) Is(target error) bool { return target == ErrFailed }

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
	fl := &failure{err: failedBy(cause), source: src}
	if f.failure.CompareAndSwap(nil, fl) {
		if f.OnFail != nil {
			f.OnFail(src, cause)
		}
		return fl.err
	}
	return f.failure.Load().err
}

// failedBy is the error a store failed by cause returns: ErrFailed's
// words and the cause (errFailedOnDamage's for damage its checks found),
// or, when the cause is a file moved under the store
// (held_files.go), the MovedError's words alone: nothing failed on the
// disk, so "after an I/O error" and the fsync or commit the look came
// after are not true of it, and "reopen it" is not what keeps the writes
// acknowledged before. Both wrap ErrFailed and the cause.
func failedBy(cause error) error {
	if moved, ok := errors.AsType[*MovedError](cause); ok {
		return &stoppedError{msg: "ckpt: " + moved.Error(), cause: cause}
	}
	if errors.Is(cause, ErrCorrupt) {
		return fmt.Errorf("%w: %w", errFailedOnDamage, cause)
	}
	return fmt.Errorf("%w: %w", ErrFailed, cause)
}

// stoppedError is a fail-stop error worded by its cause alone.
type stoppedError struct {
	msg   string
	cause error
}

func (e *stoppedError) Error() string   { return e.msg }
func (e *stoppedError) Unwrap() []error { return []error{ErrFailed, e.cause} }

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
var errBeginFault = errors.New("bbolt faulted reading its meta page")

// BeginRead begins a bbolt read transaction under Guard. bbolt reads the
// meta page while it holds its meta lock and a read hold of its map lock
// (DB.beginTx), with no defer to give them back: a fault there (the file
// cut short under the store) would leave both held for good, and every
// goroutine that reached them after the fault would wait forever: a Begin
// that got past the stuck check before the fault was recorded (meta
// lock), the end of a read transaction still open (removeTx: meta lock),
// a NoWAL commit (writeMeta: meta lock; a remap: map lock) and DB.Close.
// No check of ours can keep them out (the fault comes after they pass
// it), and no lock of ours can order them with the Begin (a Begin waiting
// for a remap's map lock would hold it while the remap waits for a read
// transaction's end that needs it). So the fault path gives back what the
// faulting Begin took (releaseBeginLocks), as a defer in bbolt would have:
// each of those goroutines then goes on, and a Begin among them faults
// (and gives back) in turn or finds the handle stuck.
//
// The handle is then marked stuck: BeginRead and BeginWrite refuse it.
// The error wraps ErrCorrupt and errBeginFault, which FailState.Began
// turns into a failed, poisoned store (Close abandons the handle, and
// bbolt's Close, in the background, can finish once the transactions
// still open end).
func BeginRead(db *bolt.DB) (tx *bolt.Tx, err error) {
	if isStuck(db) {
		return nil, errStuck
	}
	return beginBolt(db)
}

// beginBolt is BeginRead past its stuck check, where a Begin that raced
// the first fault still is (tests call it to be that Begin).
func beginBolt(db *bolt.DB) (tx *bolt.Tx, err error) {
	err = Guard("begin a read transaction", func() error {
		var err error
		tx, err = db.Begin(false)
		return err
	})
	if FromPanic(err) {
		// Stuck before the locks go back: a Begin that comes later is
		// refused here rather than faulting again.
		if _, had := stuckDBs.LoadOrStore(db, struct{}{}); !had {
			stuckCount.Add(1)
		}
		releaseBeginLocks(db)
		return nil, fmt.Errorf("%w (%w)", err, errBeginFault)
	}
	return tx, err
}

// viewRead runs fn in a read transaction begun by BeginRead and ended by
// EndRead: DB.View's plain Begin, faulting on a file cut short, would keep
// bbolt's meta and map locks, and the handle's Close (AbandonBolt's, after
// Open fails) would wait for them forever. Open's own reads use it.
func viewRead(db *bolt.DB, fn func(tx *bolt.Tx) error) error {
	tx, err := BeginRead(db)
	if err != nil {
		return err
	}
	defer EndRead(tx)
	return fn(tx)
}

// GuardedView and GuardedUpdate are for code outside the engine that opens bbolt itself
// (the root package's RecoverLog): a read transaction as Open's own
// (viewRead), or a write transaction as Open's replay, each under Guard,
// so that a damaged page or a file cut short gives an error wrapping
// ErrCorrupt instead of killing the process. An error FromPanic reports
// means bbolt's locks may be held (a panic in Begin(true) keeps its write
// lock): give the handle up with AbandonBolt, as Open does, not DB.Close,
// which could wait for them forever.
func GuardedView(db *bolt.DB, what string, fn func(tx *bolt.Tx) error) error {
	return Guard(what, func() error { return viewRead(db, fn) })
}

// GuardedUpdate: see GuardedView. A commit that fails after bbolt wrote
// its meta page (the last fsync failed, or the page's write was cut
// short) leaves that page in the page cache, never durable after a failed
// fsync, yet read by the next Open: a recover run again would find its
// work done and say so, and a power cut would take it back. The meta
// slot the commit writes is read before it and, if the failed commit
// changed it, put back as it was and fsync'd (as it was, not as a copy
// of the other slot: recovery commits over a damaged meta page, which
// must stay for the next try to find).
func GuardedUpdate(db *bolt.DB, what string, fn func(tx *bolt.Tx) error) error {
	return Guard(what, func() error {
		tx, err := db.Begin(true)
		if err != nil {
			return err
		}
		done := false
		defer func() {
			if !done { // fn panicked: Guard reports it
				_ = tx.Rollback()
			}
		}()
		ps := int64(db.Info().PageSize)
		at := int64(tx.ID()%2) * ps // a write transaction's id is the one it commits
		before, readErr := readPageAt(db.Path(), at, ps)
		err = fn(tx)
		done = true
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			if readErr != nil {
				return errors.Join(err, readErr)
			}
			return errors.Join(err, restorePageAt(db.Path(), at, before))
		}
		return nil
	})
}

// readPageAt reads size bytes at off of the file at path through a
// handle of its own (bbolt does not lend its own; the page cache is the
// inode's, so it sees what bbolt's handle sees).
func readPageAt(path string, off, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ckpt: read the meta page before a commit: %w", err)
	}
	defer f.Close()
	b := make([]byte, size)
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("ckpt: read the meta page before a commit: %w", err)
	}
	return b, nil
}

// restorePageAt puts page back at off of the file at path, and fsyncs
// it, if a failed commit changed it there.
func restorePageAt(path string, off int64, page []byte) error {
	now, err := readPageAt(path, off, int64(len(page)))
	if err == nil && bytes.Equal(now, page) {
		return nil // the failed commit never wrote its meta page
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("ckpt: take back the failed commit's meta page: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteAt(page, off); err != nil {
		return fmt.Errorf("ckpt: take back the failed commit's meta page: %w", err)
	}
	if err := Fdatasync(f); err != nil {
		return fmt.Errorf("ckpt: take back the failed commit's meta page: fsync: %w", err)
	}
	return nil
}

// EndRead ends a read transaction that BeginRead began. On a stuck handle
// it still rolls back (a faulted Begin gave bbolt's locks back), so the
// handle's map lock is free for bbolt's Close, unless bbolt's locks could
// not be reached: the Rollback would then wait forever for the meta lock.
func EndRead(tx *bolt.Tx) {
	if !canReleaseBeginLocks {
		if db := tx.DB(); db != nil && isStuck(db) {
			return
		}
	}
	_ = tx.Rollback()
}

var (
	// stuckDBs holds the handles whose Begin faulted (BeginRead), from the
	// fault until bbolt's Close of the handle returned (closeBolt): then no
	// transaction is open on it and none can begin (bbolt refuses a closed
	// handle before it reads a page), and it is forgotten, so that a
	// process that opens, faults and closes stores again and again keeps
	// none of them. A handle whose Close never returns (a transaction
	// never ended) stays. Keyed by handle, not kept by the engine, so that
	// every place that begins or ends a read sees it, the root package's
	// included.
	stuckDBs   sync.Map
	stuckCount atomic.Int64 // its entries: a fast path for the usual case, none
	errStuck   = fmt.Errorf("%w: an earlier read faulted in bbolt on this file (%w)", ErrCorrupt, errBeginFault)
)

func isStuck(db *bolt.DB) bool {
	if stuckCount.Load() == 0 {
		return false
	}
	_, ok := stuckDBs.Load(db)
	return ok
}

// closeBolt closes db and, once bbolt's Close returned, forgets it as
// stuck (stuckDBs). Every Close of an engine's handle goes through it.
func closeBolt(db *bolt.DB) error {
	err := db.Close()
	forgetDamaged(db)
	if _, had := stuckDBs.LoadAndDelete(db); had {
		stuckCount.Add(-1)
	}
	return err
}

// bbolt's DB.metalock and DB.mmaplock (go.etcd.io/bbolt v1.5.0, db.go),
// found by name and type once: bbolt gives no way to release what a
// Begin that panicked took. If a later bbolt renames or retypes them,
// canReleaseBeginLocks is false (TestBoltBeginLocksAreReachable fails)
// and a fault leaves them held, as before: EndRead then leaves the stuck
// handle's transactions open rather than wait.
var (
	metaLockIndex, mmapLockIndex []int
	canReleaseBeginLocks         = findBeginLocks(boltVersionLinked())
)

// reviewedBoltVersion is the bbolt whose DB.beginTx was read for
// releaseBeginLocks: a panic in it leaves exactly the two locks held. A
// bbolt that gave them back itself (a defer) would make the release a
// second Unlock, which is a fatal error no recover catches, so with any
// other version linked (a program may require a newer bbolt than ours)
// nothing is released. TestBoltBeginLocksAreReachable checks that go.mod
// requires this version, so an upgrade comes with a new review.
const reviewedBoltVersion = "v1.5.0"

// boltVersionLinked is the version of go.etcd.io/bbolt the program was
// built with ("" when the build records none: test binaries list no
// dependencies; their bbolt is go.mod's, which the test checks).
func boltVersionLinked() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == "go.etcd.io/bbolt" {
			if d.Replace != nil {
				return d.Replace.Path + "@" + d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

func findBeginLocks(linked string) bool {
	if linked != "" && linked != reviewedBoltVersion {
		return false
	}
	t := reflect.TypeFor[bolt.DB]()
	meta, ok1 := t.FieldByName("metalock")
	mmap, ok2 := t.FieldByName("mmaplock")
	if !ok1 || !ok2 || meta.Type != reflect.TypeFor[sync.Mutex]() || mmap.Type != reflect.TypeFor[sync.RWMutex]() {
		return false
	}
	metaLockIndex, mmapLockIndex = meta.Index, mmap.Index
	return true
}

// releaseBeginLocks gives back the locks bbolt's DB.beginTx holds when it
// panics: only the meta page is read between taking them and giving the
// meta lock back (Tx.init; the freelist's bookkeeping after it reads no
// page), so a panic out of Begin(false) always leaves exactly the meta
// lock and one read hold of the map lock, both taken by this goroutine.
// The transaction it was making was never returned: nothing else holds
// them for it.
func releaseBeginLocks(db *bolt.DB) {
	if !canReleaseBeginLocks {
		return
	}
	v := reflect.ValueOf(db).Elem()
	// Unexported fields: reflect reaches their address but lets no method
	// be called through it, hence the unsafe.Pointer (the types are
	// checked by findBeginLocks).
	mmap := (*sync.RWMutex)(v.FieldByIndex(mmapLockIndex).Addr().UnsafePointer())
	meta := (*sync.Mutex)(v.FieldByIndex(metaLockIndex).Addr().UnsafePointer())
	// The reverse of beginTx's order.
	mmap.RUnlock()
	meta.Unlock()
}

// Stuck tells whether a Begin faulted in bbolt (BeginRead): nothing may
// call Begin on the handle again (the file is cut short under it), only
// AbandonBolt.
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
