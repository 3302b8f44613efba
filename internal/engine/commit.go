package engine

// The commit paths. The commit loop applies each group of writes to a
// scratch overlay tree of its own (overlay.go), on top of the shared
// overlay and bbolt, logs the group's changes (wal.go), and once the
// record is durable merges the scratch tree into the shared one, which
// readers see on top of bbolt. The applier, a goroutine of its own
// (applier.go), replays logged groups into bbolt in large batches; the
// commit loop then prunes from the shared tree what bbolt holds. Without
// the log (NoWAL), a group is committed to bbolt itself.
//
// Reads are snapshots (snapshot.go): the commit loop publishes the shared
// tree after every merge and every prune, and a reader pairs the published
// tree with a bbolt read transaction.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// maxUnapplied bounds the bytes logged but not applied: past it, the
	// commit loop applies everything itself before logging more, so the
	// overlay's memory stays bounded.
	maxUnapplied = 32 << 20
	// maxLog bounds the log file: past it, the commit loop applies
	// everything so the log can start again from its beginning (under a
	// steady stream of writes the applier is never quite done by itself).
	maxLog = 64 << 20
)

// walState is the store's write-ahead-log state. Fields without a comment
// belong to the commit loop.
type walState struct {
	log *Log // nil when read-only
	// snaps holds what readers see: a frozen copy of shared, published by
	// the commit loop (the only writer of shared) after each merge and
	// prune, and counts the readers.
	snaps     *Snapshots
	shared    *Tree
	gen       uint64   // last group logged and merged
	pruned    uint64   // every group let go of shared is <= pruned
	groups    []*Group // logged and not yet pruned from shared
	unapplied int      // log bytes of groups not yet applied
	ap        *Applier

	flights []*flight // logged, waiting to be merged, in order
	written uint64    // last group written to the log (>= gen)
	durable uint64    // the log is fsync'd up to this group
	asked   uint64    // the syncer was asked for this group (sync.want)
	// rewound: the log was rewound and the next record is the first of a
	// new pass over the file, written over the earlier pass's first
	// (sealGroup clears that one's header first: Log.ClearHead).
	rewound bool
	// shrink: cut the log back to its header at the next pass's start,
	// to grow again by one step (Compact gives back space; sealGroup,
	// Log.Shrink).
	shrink bool
	// proven: a record after the group's says the log was durable up to
	// it (vouch); below written, the last record has none yet.
	proven uint64
	// unproven: a proof could not be written (vouch); the groups
	// acknowledged as durable next are first taken by bbolt (backByBolt),
	// tried no sooner than backAfter (no room a moment ago).
	unproven  bool
	backAfter time.Time
	sync      *syncer
	// syncFailed: the loop heard of the syncer's failure (it stopped).
	syncFailed bool

	mutsHint int // the last group's change count
	// The group's writer and the views beneath it, re-aimed for every
	// group: their buffers, undo log and slabs serve every group.
	// flightViews read the trees of the groups in flight (addOps).
	ow          TreeWriter
	sharedView  View
	flightViews []View
	og          openGroup
	// bound: the file is bound to this log and says it is live
	// (bindLog, bindFirst), or may be (a bind that failed unclean);
	// false until the first record or Backup, for a store that writes
	// nothing (bind.go).
	bound atomic.Bool
}

// publish makes the shared tree as it is now what new readers see; locked:
// the change before it left the snapshots' lock held (Snapshots.Change).
// Every change of shared goes between a Change and a publish.
func (w *walState) publish(locked bool) { w.snaps.Publish(w.shared, w.gen, w.pruned, locked) }

// readWAL reads what a previous run logged and did not apply. Open calls it
// before it writes anything: a damaged log (ErrCorrupt) leaves both files
// as they were.
// Unless checkBinding is false, a log that is not the one the file is
// bound to, or not with the file's mark, is ErrCorrupt (ScanLogOf).
func (e *Engine) readWAL(mark Mark, checkBinding bool) (groups []Group, err error) {
	// This runs before init checks the file: guard the read the same way
	// (a truncated file's missing pages would fault or panic in bbolt).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer RecoverCorrupt(&err, "open: read the write-ahead log's position")
	var applied, liveID uint64
	var bind LogBinding
	var live bool
	err = viewRead(e.db, func(tx *bolt.Tx) error {
		if fi, err := os.Stat(e.path); err == nil && fi.Size() < tx.Size() {
			return fmt.Errorf("%w: the file is %d bytes but its pages reach %d bytes (truncated?)", ErrCorrupt, fi.Size(), tx.Size())
		}
		applied = mark.Applied(NewBoltView(tx))
		e.markLen = mark.BadLength(NewBoltView(tx))
		if checkBinding {
			bind = mark.Identity(NewBoltView(tx))
			liveID, live = mark.LiveLog(NewBoltView(tx))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := CheckApplied(applied); err != nil && !e.readOnly {
		// A read-only store writes no group: it reads on (a log's records
		// all lie below such a mark, which ScanLogOf refuses as damage).
		return nil, fmt.Errorf("%w; nothing was changed: run `ckpt recover` (ckpt.RecoverLog) to put the mark back "+
			"where the file's binding to its log says it was", err)
	}
	if live {
		// The file says a log is live beside it (Mark.Live): without one,
		// what it held past the mark is gone, and reading on would serve
		// an older state as the store's.
		if LogAbsent(e.logPath) {
			return nil, LogMissingError(e.path, e.logPath, liveID)
		}
	}
	sc, err := ScanLogOf(e.logPath, applied, bind)
	if err != nil {
		return nil, err
	}
	if d := sc.Damage; d != nil && d.BoundSet && e.readOnly {
		// The mark is above the group the file's binding to this log
		// says bbolt took (a damaged mark: the binding is checksummed and
		// written with the mark by every commit that moves it). A
		// read-only store writes no group: it reads the log from the
		// binding's group, as recovery replays it (a group bbolt holds
		// already, read again, changes nothing), and its reads do not go
		// by the mark (markBound).
		rs, err := ScanLogOf(e.logPath, d.Bound, bind)
		if err != nil {
			return nil, err
		}
		if rs.Damage == nil {
			sc, e.markBound = rs, true
		}
	}
	if sc.Damage != nil {
		return nil, sc.Damage.Err(e.logPath)
	}
	e.logCut = sc.Cut
	return sc.Groups, nil
}

// openWAL replays logged (readWAL), then starts a new log (and the
// applier) unless read-only or noWAL. Read-only, the logged groups are kept
// in the overlay instead, since bbolt cannot be written.
func (e *Engine) openWAL(mark Mark, noWAL bool, logged []Group) error {
	path := e.logPath
	var applied uint64
	var live bool
	if err := viewRead(e.db, func(tx *bolt.Tx) error {
		applied = mark.Applied(NewBoltView(tx))
		_, live = mark.LiveLog(NewBoltView(tx))
		return nil
	}); err != nil {
		return err
	}
	groups := GroupRefs(logged)
	if e.readOnly {
		if len(groups) == 0 {
			return nil
		}
		// groups stays for Backup, which replays it into its copy.
		snapMark := mark
		if e.markBound {
			// The file's mark is damaged (readWAL): a read checks the
			// groups bbolt holds against it, which nothing moves in a
			// read-only store. Not checked.
			snapMark = Mark{}
		}
		w := &walState{shared: NewTree(), gen: groups[len(groups)-1].Gen, groups: groups, snaps: NewSnapshots(snapMark)}
		err := viewRead(e.db, func(tx *bolt.Tx) error {
			ow := NewTreeWriter(w.shared, NewBoltView(tx), 0)
			for _, g := range groups {
				ow.SetGen(g.Gen)
				for i := range g.Muts {
					// A change meeting a bucket the page check found
					// damaged is left out (precheck_damaged.go).
					if err := replaySparing(ow, &g.Muts[i]); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w: write-ahead log: %v; %s", ErrCorrupt, err, refusedHint)
		}
		w.publish(false)
		e.wal = w
		return nil
	}
	if len(groups) > 0 || live {
		if err := e.replayLogged(mark, groups, nil); err != nil {
			return err
		}
		if len(groups) > 0 {
			applied = groups[len(groups)-1].Gen
		}
	}
	if noWAL {
		if err := removeIfExists(path); err != nil {
			return fmt.Errorf("ckpt: remove write-ahead log: %w", err)
		}
		return nil
	}
	// A log this Open creates and cannot start (no room for its header)
	// is removed: a failed Open leaves the directory as it was.
	_, statErr := os.Lstat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	log, err := CreateLog(path, e.syncLog)
	if err != nil {
		if created {
			_ = os.Remove(path)
		}
		return err
	}
	e.held.log.Store(holdFile(log.f, path, true))
	e.held.head.Store(newLogHead(log))
	if e.hooks.CreatedLog != nil {
		e.hooks.CreatedLog()
	}
	// Bound before anything is appended (bind.go): at once if this Open
	// writes to the file anyway or must repair its mark, else before the
	// log's first record.
	bindNow, err := e.bindAtOpen(mark, len(groups) > 0, live)
	if err == nil && bindNow {
		err = e.bindLog(mark, log.ID(), applied, len(groups) > 0)
	}
	if err != nil {
		return errors.Join(err, log.Close())
	}
	log.limit = recordLimit(e.hooks.MaxRecordBody)
	log.grow = e.hooks.LogGrow
	log.max = e.hooks.MaxLog
	w := &walState{log: log, shared: NewTree(), gen: applied, written: applied, durable: applied, proven: applied,
		sync: newSyncer(log, applied), snaps: NewSnapshots(mark)}
	w.ap = NewApplier(ApplierConfig{FS: &e.fs, DBMu: &e.dbMu, DB: &e.db, File: &e.file, Snaps: w.snaps,
		Mark: mark, Commit: e.commitBolt, OnApplied: e.obs.Applied, OnRetry: e.obs.ApplyRetry, LogDurable: e.logDurable}, applied)
	w.bound.Store(bindNow || (mark.Log == nil && mark.Live == nil))
	w.publish(false)
	e.wal = w
	go w.ap.Run()
	go w.sync.run()
	return nil
}

// flight is a group whose record is in the log but not merged yet: it
// waits for the fsync that makes the log durable up to want, and for the
// groups before it. Later groups read its changes through a view of its
// tree (addOps) until it is merged into shared.
type flight struct {
	ops   []*Op
	errs  []error
	group *Group // nil: nothing to merge (no change, or its record failed)
	tree  *Tree  // the group's changes, set with group
	off   int64  // where its record starts in the log
	want  uint64 // the log must be durable up to this group first (0: no wait)
}

// logDurable makes the log durable up to gen before bbolt takes it (the
// applier, in its goroutine or the commit loop's applyAll). A Sync group's
// record is durable before its group is handed over; a NoSync group's is
// written only, and bbolt holding it while a power cut takes its record
// from the log would leave the log's valid records below bbolt's mark
// (refused as damage, wal.go). So unless the syncer's fsyncs covered gen,
// the applier asks the syncer for one and waits (once per apply batch of
// NoSync groups). A failure fails the store, as the syncer's does.
func (e *Engine) logDurable(gen uint64) error {
	if err := e.wal.sync.durableUpTo(gen); err != nil {
		// Not applied: the groups stay in the log (durableUpTo).
		return e.fs.Fail(FailLog, fmt.Errorf("ckpt: write-ahead log: fsync before applying it to the store: %w", err))
	}
	return nil
}

// requestSync asks the syncer to make every written record durable, unless
// nothing waits for it or it was asked already.
func (w *walState) requestSync() {
	if w.asked >= w.written {
		return
	}
	// Any flight may be the one that waits: a NoSync group (want 0) can
	// follow a Sync group whose fsync is still to come.
	for _, f := range w.flights {
		if f.want > w.durable {
			w.asked = w.written
			w.sync.ask(w.written)
			return
		}
	}
}

// finishFlights merges and acknowledges, in order, the groups in flight
// whose wait is over.
func (e *Engine) finishFlights() {
	w := e.wal
	e.vouch()
	n, merged, locked := 0, false, false
	for _, f := range w.flights {
		if f.want > w.durable {
			break
		}
		if g := f.group; g != nil {
			if !merged {
				locked = w.snaps.Change(w.mergeKeys() > bigMerge)
			}
			g.Keys = MergeOverlay(w.shared, f.tree)
			w.gen = g.Gen
			merged = true
		}
		n++
	}
	if merged {
		// Published before anyone is acknowledged, so a caller reads its
		// own write; and before the applier gets the groups, so bbolt never
		// holds a group no snapshot has.
		w.publish(locked)
	}
	durableAcks := false
	for _, f := range w.flights[:n] {
		if g := f.group; g != nil {
			w.groups = append(w.groups, g)
			w.unapplied += g.Size
			e.obs.Group(len(f.ops), g.Size, g.Gen)
			w.ap.Add(g)
			e.commits.Add(1)
		}
		durableAcks = durableAcks || f.want > 0
	}
	if w.unproven && durableAcks {
		e.backByBolt()
	}
	for _, f := range w.flights[:n] {
		e.ack(f.ops, f.errs)
	}
	clear(w.flights[:n])
	w.flights = w.flights[n:]
}

// bigMerge bounds the keys a merge writes under the snapshots' lock
// (Snapshots.Change), which a reader that needs a new snapshot waits for:
// some 0.3 ms per thousand keys (12 ms for 20,000, a group of a thousand
// ops of a few keys each). A larger merge freezes the published state
// first, as a prune does, and copies on write the nodes it changes.
const bigMerge = 1024

// mergeKeys counts the keys finishFlights is about to merge: those of the
// flights whose wait is over. A bucket entry (a bucket dropped or made
// anew) counts as a big merge by itself: merging it deletes everything
// shared still holds under that bucket (deleteSubtree), which is as much
// as the bucket held unapplied (a thread written in bulk, then deleted),
// not one key.
func (w *walState) mergeKeys() int {
	n := 0
	for _, f := range w.flights {
		if f.want > w.durable {
			break
		}
		if f.tree != nil {
			if f.tree.markers > 0 {
				return bigMerge + 1
			}
			n += f.tree.Len()
		}
	}
	return n
}

// synced takes the syncer's report. A failed fsync fails the store
// (internal/engine/failstop.go) and every group in flight (later ones were built on earlier
// ones); their records are erased, and neither their log space nor their
// group numbers are used again: nothing is logged after a failure.
func (e *Engine) synced(res syncResult) {
	w := e.wal
	if res.err != nil {
		if w.syncFailed {
			return // heard already: the syncer reports its failure until Close
		}
		w.syncFailed = true
		cause := fmt.Errorf("ckpt: write-ahead log: fsync: %w", res.err)
		if len(w.flights) > 0 {
			cause = errors.Join(cause, w.log.Erase(w.flights[0].off))
		}
		err := e.persistFailed(FailLog, cause)
		for _, f := range w.flights {
			failRest(f.errs, err)
			e.ack(f.ops, f.errs)
		}
		clear(w.flights)
		w.flights = w.flights[:0]
		// The open group was built on the flights: it fails with them,
		// before anything of it is logged.
		e.dropOpenGroup(err)
		return
	}
	w.durable = max(w.durable, res.gen)
	if len(w.flights) > 0 && w.flights[0].want > 0 && w.flights[0].want <= w.durable {
		// This fsync acknowledges groups as durable: their proof goes
		// before the next group's record (trySeal), which would say the
		// same, but is erased if its own fsync fails (above).
		e.vouch()
	}
	if w.og.f != nil {
		e.trySeal() // its wait may be over: logged, and its fsync asked for
	}
	e.finishFlights()
	w.requestSync()
}

// drainFlights waits until no group is in flight.
func (e *Engine) drainFlights() error {
	w := e.wal
	e.sealNow()
	for len(w.flights) > 0 {
		w.requestSync()
		if w.asked <= w.durable {
			return errors.New("ckpt: write-ahead log: groups in flight wait for nothing") // cannot happen
		}
		e.synced(w.sync.wait())
	}
	return nil
}

// pruneApplied removes from the shared tree what bbolt now holds, and
// rewinds the log when bbolt holds all of it.
func (e *Engine) pruneApplied() {
	w := e.wal
	applied := w.ap.Applied()
	n := 0
	for _, g := range w.groups {
		if g.Gen > applied {
			break
		}
		n++
	}
	if n == 0 {
		return
	}
	// A prune of a whole batch takes too long for readers to wait on.
	w.snaps.Change(true)
	w.shared = PruneOverlay(w.shared, w.groups[:n], applied)
	w.pruned = applied
	w.publish(false)
	for _, g := range w.groups[:n] {
		w.unapplied -= g.Size
	}
	clear(w.groups[:n])
	w.groups = w.groups[n:]
	if applied == w.gen && len(w.flights) == 0 && e.fs.Failed() == nil {
		w.log.Rewind() // bbolt holds (and has fsync'd) every record
		w.durable = w.written
		w.proven = w.written
		w.rewound = true
	}
}

// applyAll applies every logged group now (Compact, Close, a full log).
func (e *Engine) applyAll() error {
	if err := e.wal.ap.Apply(false); err != nil {
		return err
	}
	e.pruneApplied()
	return nil
}

// closeWAL applies everything, stops the applier and removes the log. If
// applying fails, the log stays: the next Open replays it.
func (e *Engine) closeWAL() error {
	w := e.wal
	if w == nil || w.log == nil {
		return nil
	}
	w.sync.close()
	w.ap.Stop()
	if e.fs.BoltFailed() {
		// bbolt takes nothing more: the log keeps the durable groups
		// bbolt lacks, for the next Open; and a file that says its log is
		// live (which it cannot be told otherwise now) keeps its log, or
		// the next Open would refuse it as one whose log went missing.
		if w.ap.Applied() < w.gen || (e.mark.Live != nil && w.bound.Load()) {
			return w.log.Close()
		}
		return w.log.Remove()
	}
	if err := e.applyAll(); err != nil {
		e.vouchKeptLog()
		if serr := w.log.SyncAndClose(); serr != nil {
			// The log that keeps what bbolt lacks may not be durable
			// either: not a full disk alone, whatever apply said.
			return errors.Join(err, fmt.Errorf("%w: close the write-ahead log: %w", ErrFailed, serr))
		}
		if errors.Is(err, ErrDiskFull) {
			// Nothing is lost: every acknowledged write is in the log,
			// fsync'd. Callers that wrote before Close (the CLI) tell this
			// apart from a failure by ErrDiskFull without ErrFailed.
			return &LogKeptError{Err: err}
		}
		return err
	}
	// The last commit: bbolt holds every group, and the file no longer
	// says a log is live; only then does the log go (a crash in between
	// leaves a log with nothing to replay beside a file whole alone).
	if e.mark.Live != nil && w.bound.Load() { // unbound: the file never said so (bind.go)
		if err := e.writeLive("close: mark the write-ahead log closed", true, e.mark.ClearLive); err != nil {
			if serr := w.log.SyncAndClose(); serr != nil {
				return errors.Join(err, fmt.Errorf("%w: close the write-ahead log: %w", ErrFailed, serr))
			}
			if errors.Is(err, ErrDiskFull) && !errors.Is(err, ErrFailed) {
				// bbolt holds every write; the file still says its log is
				// live, and the log is kept for the next Open.
				return &LogKeptError{Err: err}
			}
			return err
		}
	}
	if e.hooks.ClosedClean != nil {
		e.hooks.ClosedClean()
	}
	return w.log.Remove()
}

// syncPath makes the file at path durable with sync, its bytes written
// again first (rewrite): Open's replay takes what the page cache holds.
func syncPath(path string, sync func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := rewrite(f); err != nil {
		return errors.Join(err, f.Close())
	}
	return errors.Join(sync(f), f.Close())
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// LogKeptError is a Close that found no room to apply the write-ahead log
// (Err wraps ErrDiskFull): the log stays, fsync'd, with every write, and
// the next Open applies it. A caller that removes the file and its log
// (ImportFile's new file) reports Err alone.
type LogKeptError struct{ Err error }

func (e *LogKeptError) Error() string {
	return e.Err.Error() + " (the write-ahead log is kept with every write; the next Open applies it)"
}

func (e *LogKeptError) Unwrap() error { return e.Err }
