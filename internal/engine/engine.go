package engine

// The engine: one bbolt file, its write-ahead log, the overlay readers see
// on top of bbolt, the commit loop that builds and persists groups of
// writes (loop.go, group.go, commit.go), the applier that moves logged
// groups into bbolt (applier.go), compaction (compact.go), and their
// goroutines and lifecycle. The root package keeps the checkpoint model
// and talks to the engine only through this API: View for snapshot reads,
// Send for group writes (Op), Flush, Solo for solo operations, Hold for a
// paused file (Backup, Verify), Compact (from a solo op), Failed and
// Close. Tests of the root package reach no further than Hooks.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// MaxUnapplied bounds the logged bytes not yet applied: past it the commit
// loop applies everything itself before logging more (commit.go).
const MaxUnapplied = maxUnapplied

// Options configure Open.
type Options struct {
	// Bolt are bbolt's options, complete (Timeout, ReadOnly, map size...).
	Bolt bolt.Options
	// LogPath is the write-ahead log's file.
	LogPath string
	// NoWAL commits every group to bbolt itself instead of the log.
	NoWAL bool
	// MaxPending bounds the queue of ops (zero: 1024).
	MaxPending int
	// MaxPendingBytes bounds the bytes (Op.Bytes) of the ops queued and
	// of the group being committed (zero: DefaultMaxPendingBytes).
	MaxPendingBytes int64
	// Mark is where bbolt records the last logged group it holds.
	Mark Mark
	// Init runs once the log is read and before it is replayed, in a
	// write transaction (a read one when read-only): the root package
	// checks (or writes) its format marker there.
	Init func(tx *bolt.Tx) error
	// OnAsyncError, if set, hears of every failed op that had no Done
	// channel (an Async write), off the commit loop: one call at a time,
	// in the order of the failures (callbacks.go).
	OnAsyncError func(error)
	Observer     Observer
	Hooks        Hooks
	// HideUnpublished, if set, is the reader a read goes through while
	// an operation marked Unpublished runs (readgate.go): it hides that
	// operation's commits.
	HideUnpublished func(Reader) Reader
	// ScanValuesOnly says every bucket the caller scans holds values
	// only: a read's Scan that meets a nested bucket is ErrCorrupt, not
	// an entry passed over (BoltView.valuesOnly).
	ScanValuesOnly bool
}

// Engine is an open store file with its log and commit loop.
type Engine struct {
	path     string
	logPath  string       // the write-ahead log's file
	boltOpts bolt.Options // to open a compacted file alike
	readOnly bool
	mark     Mark // where bbolt says what of the log it holds
	obs      Observer
	hooks    Hooks
	gate     readGate // reads while an operation is unpublished (readgate.go)

	valuesOnly bool // Options.ScanValuesOnly, for every read's view

	// dbMu guards the db handle against replaceFile swapping it: readers
	// hold it shared only while they begin a read transaction (the old
	// handle's Close waits for those to end); the commit loop, the only
	// writer of db, holds it exclusively for the swap.
	dbMu sync.RWMutex
	db   *bolt.DB
	file *os.File // db's file (bbolt holds its lock), for AbandonBolt
	// held: the file and the log as opened, to see that their paths still
	// name them before a durable write is acknowledged (held_files.go).
	held heldFiles

	queue    chan *Op
	loopDone chan struct{}
	queueMu  sync.Mutex // orders OnQueue hooks with queue sends
	pending  *pendingBytes
	// wal is the write-ahead log's state (commit.go); nil with NoWAL, or
	// read-only with nothing logged.
	wal *walState
	// fs is the fail-stop state (failstop.go).
	fs FailState

	// asyncErrs: the failures of ops without a Done channel not yet
	// taken (noteAsyncErr, TakeAsyncErr).
	asyncMu   sync.Mutex
	asyncErrs errTally
	cb        *callbacks // OnAsyncError's calls; nil without it
	unsynced  bool       // a NoSync commit is not yet fsync'd; only the loop touches it
	commits   atomic.Int64
	replayed  int
	logCut    *LogDamage // what Open dropped as a power cut's (LogCut)
	// markBound says that a read-only Open found the file's
	// mark above the group its binding to the log names, and read the
	// log from that group instead (readWAL).
	markBound bool
	// markLen says that readWAL found the file's mark stored with a
	// length other than 8 (read as group 0): a read-write Open writes the
	// group it took it for in the commit that binds its new log, so that
	// the mark and the binding agree (Mark.Check).
	markLen bool
}

// beginRead begins a read transaction of db, unless a Begin faulted
// before (FailState.Began).
func (e *Engine) beginRead(db *bolt.DB) (*bolt.Tx, error) {
	if e.fs.Stuck() {
		return nil, e.fs.StuckErr()
	}
	tx, err := BeginRead(db)
	return tx, e.fs.Began(err)
}

// BoltOpenError is Open's error when bbolt itself could not open the
// file (the root package words these for the user: locked, not a ckpt
// file...).
type BoltOpenError struct{ Err error }

func (e *BoltOpenError) Error() string { return e.Err.Error() }
func (e *BoltOpenError) Unwrap() error { return e.Err }

// Open opens the bbolt file at path (opts.Bolt), reads and replays what a
// previous run logged, starts a new log and the applier (unless read-only
// or NoWAL) and the commit loop. A damaged file or log gives ErrCorrupt,
// never a panic; a damaged log leaves both files as they were.
func Open(path string, opts Options) (*Engine, error) {
	bo := opts.Bolt
	db, file, err := OpenBolt(path, &bo)
	if err != nil {
		return nil, &BoltOpenError{err}
	}
	if opts.NoWAL && !bo.ReadOnly {
		// The file may be one a killed Open made (bbolt's first pages,
		// its directory not yet fsync'd), and without the log nothing
		// else fsyncs the directory (CreateLog does, with it) before
		// writes are acknowledged in the file.
		if err := SyncDir(filepath.Dir(path)); err != nil {
			_ = closeBolt(db)
			return nil, &BoltOpenError{fmt.Errorf("ckpt: open: fsync the file's directory: %w", err)}
		}
	}
	if fi, err := os.Stat(path); err == nil {
		db.AllocSize = GrowStep(fi.Size()) // with the large map (applier.go)
	}
	if opts.Hooks.OpenedBolt != nil {
		opts.Hooks.OpenedBolt(db)
	}
	e := &Engine{
		path:     path,
		logPath:  opts.LogPath,
		boltOpts: bo,
		readOnly: bo.ReadOnly,
		mark:     opts.Mark,
		obs:      opts.Observer,
		hooks:    opts.Hooks,
		db:       db,
		file:     file,
		queue:    make(chan *Op, cmp.Or(max(opts.MaxPending, 0), 1024)),
		loopDone: make(chan struct{}),
		pending:  newPendingBytes(opts.MaxPendingBytes, opts.Hooks.PendingFull),
		cb:       newCallbacks(opts.OnAsyncError),
	}
	e.gate.hide = opts.HideUnpublished
	if !e.readOnly {
		e.held.db.Store(holdFile(file, path, false))
	}
	e.valuesOnly = opts.ScanValuesOnly
	if e.hooks.SyncLog == nil {
		e.hooks.SyncLog = Fdatasync
	}
	if e.hooks.CommitBolt == nil {
		e.hooks.CommitBolt = (*bolt.Tx).Commit
	}
	if e.hooks.CommitBind == nil {
		e.hooks.CommitBind = (*bolt.Tx).Commit
	}
	if e.hooks.SyncDir == nil {
		e.hooks.SyncDir = SyncDir
	}
	e.fs.OnFail = e.obs.Failed
	fail := func(err error) (*Engine, error) {
		e.held.head.Load().release()
		if FromPanic(err) {
			_ = AbandonBolt(e.db, e.file)
		} else {
			_ = closeBolt(e.db)
		}
		return nil, err
	}
	// A damaged meta page, read before anything is written: the first
	// commit would overwrite it, and with it the only trace of a newer
	// transaction bbolt fell back from (precheck.go, checkMetas).
	var metaErr error
	txid, metaDamage := checkMetasTxid(file)
	if !e.readOnly && txid > 1 {
		// bbolt writes a new file's meta pages as transactions 0 and 1: with
		// one of those in use, no commit ever ran, and a damaged other page
		// is a creation cut short (a power cut), with nothing to lose.
		metaErr = metaDamage
	}
	// With a meta page damaged, bbolt reads the file one transaction back,
	// where the log's binding (Mark.Bind) may still name the log before
	// the one at the path: the log's identity is not checked then.
	logged, err := e.readWAL(opts.Mark, metaDamage == nil) // guarded itself; before anything is written: a damaged log changes nothing
	if err != nil {
		return fail(err)
	}
	if metaErr != nil && len(logged) == 0 {
		// No logged group past the mark of the meta page bbolt uses: what
		// a newer transaction held cannot be replayed (with groups, the log
		// holds everything since that mark, as after a power cut during
		// an apply commit, and the replay rewrites the damaged page).
		return fail(fmt.Errorf("%w; nothing was changed: a read-only Open reads what the other page holds, "+
			"and `ckpt recover` (ckpt.RecoverLog) rewrites the damaged page from it, accepting the step back", metaErr))
	}
	e.replayed = len(logged)
	if metaDamage != nil && !e.readOnly && len(logged) > 0 {
		// bbolt's next commit writes the damaged page's slot, and the
		// file stands one transaction back, bound to the log before (the
		// binding is not checked above): that commit must be the replay's,
		// which binds the file to the log at the path. Init's first, a
		// failure or a crash before the replay left a file whose next
		// Open refused its own log as another store's. Init runs in it,
		// first: its checks of the file (a format this build reads, the
		// buckets every store has) must see the file as it was, and a
		// refusal must leave it so.
		if err := Guard("open: replay the write-ahead log", func() error {
			return e.replayLogged(opts.Mark, GroupRefs(logged), e.initTx(opts.Init))
		}); err != nil {
			return fail(err)
		}
		logged = nil
	} else if err := Guard("open: check the format", func() error { return e.init(opts.Init) }); err != nil {
		return fail(err)
	}
	if err := Guard("open: replay the write-ahead log", func() error { return e.openWAL(opts.Mark, opts.NoWAL, logged) }); err != nil {
		return fail(err)
	}
	if e.hooks.HoldApplier && e.Logging() {
		e.wal.ap.Stop() // before any group: it never applies (Stop is final)
	}
	e.watchFiles()
	go e.run()
	return e, nil
}

// init runs the caller's Init in a transaction (initTx). A read-write
// one commits only if Init wrote something (a new file's format): on an
// existing file it only checks, and bbolt's commit of a transaction that
// changed nothing still writes a meta page (a new transaction id). Open
// runs it before the log is created, so an Open refused there (a
// directory without write permission for the log) changed the file.
// bbolt counts a node for every page a write touches (Put, Delete,
// CreateBucket, SetSequence): none counted, nothing was written.
func (e *Engine) init(fn func(tx *bolt.Tx) error) error {
	if e.readOnly {
		return viewRead(e.db, e.initTx(fn))
	}
	tx, err := e.db.Begin(true)
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done { // Init failed or panicked (Guard recovers it)
			_ = tx.Rollback()
		}
	}()
	if err := e.initTx(fn)(tx); err != nil {
		return err
	}
	done = true
	if st := tx.Stats(); st.GetNodeCount() == 0 {
		return tx.Rollback()
	}
	return tx.Commit()
}

// initTx is the caller's Init, after a check that the file holds every
// page bbolt's meta names.
func (e *Engine) initTx(fn func(tx *bolt.Tx) error) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		// A truncated file still opens, and reading its missing pages would
		// fault: refuse it here with a clear error.
		if fi, err := e.file.Stat(); err == nil && fi.Size() < tx.Size() {
			return fmt.Errorf("%w: the file is %d bytes but its pages reach %d bytes (truncated?)", ErrCorrupt, fi.Size(), tx.Size())
		}
		if fn == nil {
			return nil
		}
		return fn(tx)
	}
}

// Replayed is the number of logged groups Open replayed.
func (e *Engine) Replayed() int { return e.replayed }

// LogCut is what Open dropped of the log it found as a power cut's (a
// bad record followed only by records written before it was durable,
// wal.go), nil if nothing.
func (e *Engine) LogCut() *LogDamage { return e.logCut }

// Abandon undoes an Open whose caller failed afterwards (err): nothing
// more is written to bbolt, the log stays for the next Open, the file is
// closed (abandoned if err came from a bbolt panic).
func (e *Engine) Abandon(err error) {
	e.fs.Fail(FailBolt, err) // the applier must not begin a bbolt write now
	close(e.queue)
	<-e.loopDone
	e.cb.close()
	e.snapshots().Close() // bbolt's Close waits for pooled reads
	_ = e.closeWAL()
	if FromPanic(err) {
		_ = AbandonBolt(e.db, e.file)
	} else {
		_ = closeBolt(e.db)
	}
}

// Close stops the commit loop once every op queued is done (the caller
// sends none after), applies the log and removes it, and closes the file.
// It returns the failures of ops without a Done channel not yet taken
// (TakeAsyncErr). It waits until OnAsyncError has heard of every failure,
// unless called from inside OnAsyncError: then the calls stop after that
// one, and the failures it has not heard of are only in Close's error
// (or a Flush's before). No call of OnAsyncError starts after it returns.
// A failed store's Close closes all the same, and its error wraps the
// fail-stop error (ErrFailed and the cause): writes were refused since
// and the log may be kept, so it was no clean shutdown.
func (e *Engine) Close() error {
	close(e.queue)
	<-e.loopDone
	e.cb.close()
	// bbolt's Close waits for every read transaction: end the pooled
	// ones (pool.go), and pool none again.
	e.snapshots().Close()
	var syncErr error
	if e.unsynced {
		syncErr = e.db.Sync()
	}
	walErr := e.closeWAL()
	e.held.head.Load().release() // the syncer and the loop are done
	var closeErr error
	if e.fs.Poisoned() {
		closeErr = AbandonBolt(e.db, e.file)
	} else {
		closeErr = closeBolt(e.db)
	}
	err := errors.Join(e.TakeAsyncErr(), syncErr, walErr, closeErr)
	if ferr := e.fs.Failed(); ferr != nil && !errors.Is(err, ferr) {
		err = errors.Join(fmt.Errorf("close of a failed store: %w", ferr), err)
	}
	return err
}

// View runs fn on a snapshot of the store (snapshot.go): it holds no lock
// the commit loop or the applier wait for. A bbolt panic on a damaged page
// becomes ErrCorrupt (guard.go).
func (e *Engine) View(ctx context.Context, fn func(r Reader) error) error {
	return e.view(ctx, fn, e.gate.reader)
}

// ViewUnpublished is View seeing the commits of operations not published
// yet (readgate.go): an operation's own read of what it wrote, before it
// publishes it.
func (e *Engine) ViewUnpublished(ctx context.Context, fn func(r Reader) error) error {
	return e.view(ctx, fn, func(r Reader, _ uint64) Reader { return r })
}

// view is View reading through gate (the read gate's reader, or none).
func (e *Engine) view(ctx context.Context, fn func(r Reader) error, gate func(Reader, uint64) Reader) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer RecoverCorrupt(&err, "read")
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.fs.Stuck() {
		return e.fs.StuckErr()
	}
	ss := e.snapshots()
	ended := e.gate.before()
	if ss == nil {
		// No log: bbolt alone, a transaction per read (pool.go).
		tx, _, err := ss.Begin(&e.dbMu, &e.db, nil)
		if err != nil {
			return e.fs.Began(err)
		}
		defer ss.End(tx)
		e.obs.SnapshotOpened()
		defer e.obs.SnapshotClosed()
		bv := readView(tx)
		defer bv.recycle()
		bv.walkBytes, bv.valuesOnly = e.hooks.WalkBytes, e.valuesOnly
		return fn(gate(bv, ended))
	}
	pr, snap, err := ss.Acquire(&e.dbMu, &e.db)
	if err != nil {
		return e.fs.Began(err)
	}
	// A read that panicked (a damaged page) may leave its view's cursors
	// mid-walk: its transaction ends instead of going back to the pool.
	clean := false
	defer func() { ss.Release(pr, clean) }()
	e.obs.SnapshotOpened()
	defer e.obs.SnapshotClosed()
	// No walk is under way as a read begins: one that recovered a panic
	// of its own mid-walk (Verify on a damaged file) never left it, and
	// its pooled read would count it under way, so that no later walk of
	// it is outermost and forgets what its callbacks opened.
	pr.bv.walkBytes, pr.bv.depth, pr.bv.valuesOnly = e.hooks.WalkBytes, 0, e.valuesOnly
	err = fn(gate(pr.Reader(snap), ended))
	clean = true
	return err
}

// BeginSnapshot begins a read as View does; between, if set, runs after
// each bbolt begin and before the overlay is loaded (tests pause readers
// there). EndSnapshot ends it.
func (e *Engine) BeginSnapshot(between func()) (*bolt.Tx, *Snap, error) {
	if e.fs.Stuck() {
		return nil, nil, e.fs.StuckErr()
	}
	tx, snap, err := e.snapshots().Begin(&e.dbMu, &e.db, between)
	return tx, snap, e.fs.Began(err)
}

// EndSnapshot ends a read BeginSnapshot began.
func (e *Engine) EndSnapshot(tx *bolt.Tx) { e.snapshots().End(tx) }

// snapshots returns the snapshots of the log's overlay; nil (reads of
// bbolt alone) without a log.
func (e *Engine) snapshots() *Snapshots {
	if e.wal == nil {
		return nil
	}
	return e.wal.snaps
}

// Failed returns the fail-stop error, or nil while the store is sound.
func (e *Engine) Failed() error { return e.fs.Failed() }

// Logging tells whether writes go through the write-ahead log (not NoWAL,
// not read-only).
func (e *Engine) Logging() bool { return e.wal != nil && e.wal.ap != nil }

// Applied returns the last logged group bbolt holds (0 without the log).
func (e *Engine) Applied() uint64 {
	if !e.Logging() {
		return 0
	}
	return e.wal.ap.Applied()
}

// Commits counts the groups made durable.
func (e *Engine) Commits() int64 { return e.commits.Load() }

// ApplyNow applies what is logged so far, as the applier would (Backup
// does it before its solo op, so that the op finds little left). A
// failure is met again by the next apply.
func (e *Engine) ApplyNow() {
	if e.Logging() {
		_ = e.wal.ap.Apply(false)
	}
}

// Hold begins a read transaction on the file as it is, with the applier
// paused (its commits wait) and the handle kept from a swap, until
// release. Logging, call it from a solo op (every group is then in bbolt);
// read-only, groups are the logged groups the file lacks.
func (e *Engine) Hold() (tx *bolt.Tx, groups []*Group, release func(), err error) {
	var ap *Applier
	if e.Logging() {
		ap = e.wal.ap
		ap.Lock()
	} else if e.wal != nil {
		groups = e.wal.groups
	}
	e.dbMu.RLock()
	release = func() {
		e.dbMu.RUnlock()
		if ap != nil {
			ap.Unlock()
		}
	}
	if tx, err = e.beginRead(e.db); err != nil {
		release()
		return nil, nil, nil, fmt.Errorf("begin read: %w", err)
	}
	return tx, groups, release, nil
}

// HoldCopy is Hold for a copy of the file (Backup), which must be a store
// whole alone: logging, every group is in bbolt. live says the held file
// says a log is live (Mark.Live): a copy of it must be cleared
// (Mark.ClearLive) before it opens alone. With clear (a copy streamed as
// the held file is, which cannot be cleared after), the file's mark is
// cleared in a commit before the read begins and set again at release
// instead, and live is false. Writers go on logging meanwhile and the
// applier waits, so the log then holds groups the file lacks while the
// file does not say so: a crash during the copy leaves a file that opens
// without its log unrefused, missing them. Only a copy that cannot be
// cleared itself should ask for it.
func (e *Engine) HoldCopy(clear bool) (tx *bolt.Tx, groups []*Group, live bool, release func(), err error) {
	if e.Logging() {
		// Bound now, not by a write during the copy, which could not
		// commit the binding while the file is held (bind.go).
		if err := e.bindFirst(); err != nil {
			return nil, nil, false, nil, err
		}
	}
	if !clear || !e.Logging() || e.mark.Live == nil {
		tx, groups, release, err = e.Hold()
		if err != nil {
			return nil, nil, false, nil, err
		}
		// Guarded, and the hold let go on its error: a page damaged under
		// the open store made bbolt panic here, in the commit loop or on
		// the caller's goroutine, where nothing recovers it (the process
		// died), and a hold kept would keep the applier and the handle
		// (TestH251BackupOverARootDamagedUnderTheOpenStoreReturns).
		if err := Guard("backup: read the live mark", func() error { _, live = e.mark.LiveLog(NewBoltView(tx)); return nil }); err != nil {
			EndRead(tx)
			release()
			return nil, nil, false, nil, err
		}
		return tx, groups, live, release, nil
	}
	ap := e.wal.ap
	ap.Lock() // the applier, the file's only other writer, waits
	if err := e.writeLive("clear the live mark for a copy", true, e.mark.ClearLive); err != nil {
		ap.Unlock()
		return nil, nil, false, nil, err
	}
	id := e.wal.log.ID()
	e.dbMu.RLock()
	release = func() {
		e.dbMu.RUnlock()
		// The caller's read has ended (a commit that grows the map would
		// wait for it).
		// Not alone: a file that does not say its log is live while the
		// log holds groups it lacks must not outlive this (the store
		// stops instead; the next Open replays the log).
		_ = e.writeLive("mark the write-ahead log live again after a copy", false, func(w Writer) error { return e.mark.SetLive(w, id) })
		ap.Unlock()
	}
	if tx, err = e.beginRead(e.db); err != nil {
		release()
		return nil, nil, false, nil, fmt.Errorf("begin read: %w", err)
	}
	return tx, nil, false, release, nil
}
