package ckpt

// The write-ahead log's side of the store. The commit loop applies each
// group of writes to a scratch overlay tree of its own
// (internal/engine/overlay.go), on top of the shared overlay and bbolt,
// logs the group's changes (internal/engine/wal.go), and once the record
// is durable merges the scratch tree into the shared one,
// which readers see on top of bbolt. The applier, a goroutine of its own
// (internal/engine/applier.go), replays logged groups into bbolt in large
// batches; the commit loop then prunes from the shared tree what bbolt
// holds.
//
// Reads are snapshots (internal/engine/snapshot.go): the commit loop
// publishes the shared tree after every merge and every prune, and a
// reader pairs the published tree with a bbolt read transaction.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"

	"github.com/ckpt-go/ckpt/internal/engine"
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
	log *engine.Log // nil when read-only
	// snaps holds what readers see: a frozen copy of shared, published by
	// the commit loop (the only writer of shared) after each merge and
	// prune, and counts the readers.
	snaps     *engine.Snapshots
	shared    *engine.Tree
	gen       uint64          // last group logged and merged
	pruned    uint64          // every group let go of shared is <= pruned
	groups    []*engine.Group // logged and not yet pruned from shared
	unapplied int             // log bytes of groups not yet applied
	ap        *engine.Applier

	flights []*flight // logged, waiting to be merged, in order
	// unsynced holds the changes of every group in flight, merged in
	// order: the next group reads through one tree, not one per flight.
	unsynced *engine.Tree
	written  uint64 // last group written to the log (>= gen)
	durable  uint64 // the log is fsync'd up to this group
	syncing  bool   // the syncer is at work
	syncReq  chan uint64
	syncRes  chan syncResult
}

// endRead ends a snapshot's read transaction.
func (s *Store) endRead(tx *bolt.Tx) { s.snapshots().End(tx) }

// snapshots returns the snapshots of the log's overlay; nil (reads of
// bbolt alone) without a log.
func (s *Store) snapshots() *engine.Snapshots {
	if s.wal == nil {
		return nil
	}
	return s.wal.snaps
}

// publish makes the shared tree as it is now what new readers see.
func (w *walState) publish() { w.snaps.Publish(w.shared, w.gen, w.pruned) }

// readWAL reads what a previous run logged and did not apply. Open calls it
// before it writes anything: a damaged log (ErrCorrupt) leaves both files
// as they were.
func (s *Store) readWAL() (groups []engine.Group, err error) {
	// This runs before init checks the file: guard the read the same way
	// (a truncated file's missing pages would fault or panic in bbolt).
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer engine.RecoverCorrupt(&err, "open: read the write-ahead log's position")
	var applied uint64
	err = s.db.View(func(tx *bolt.Tx) error {
		if fi, err := os.Stat(s.path); err == nil && fi.Size() < tx.Size() {
			return fmt.Errorf("%w: the file is %d bytes but its pages reach %d bytes (truncated?)", ErrCorrupt, fi.Size(), tx.Size())
		}
		applied = appliedMark.Applied(engine.NewBoltView(tx))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return engine.ReadLog(s.path+walSuffix, applied)
}

// openWAL replays logged (readWAL), then starts a new log (and the
// applier) unless read-only or noWAL. Read-only, the logged groups are kept
// in the overlay instead, since bbolt cannot be written.
func (s *Store) openWAL(noWAL bool, logged []engine.Group) error {
	path := s.path + walSuffix
	var applied uint64
	if err := s.db.View(func(tx *bolt.Tx) error { applied = appliedMark.Applied(engine.NewBoltView(tx)); return nil }); err != nil {
		return err
	}
	groups := make([]*engine.Group, len(logged))
	for i := range logged {
		groups[i] = &logged[i]
	}
	if s.readOnly {
		if len(groups) == 0 {
			return nil
		}
		// groups stays for Backup, which replays it into its copy.
		w := &walState{shared: engine.NewTree(), gen: groups[len(groups)-1].Gen, groups: groups, snaps: engine.NewSnapshots(appliedMark)}
		err := s.db.View(func(tx *bolt.Tx) error {
			ow := engine.NewTreeWriter(w.shared, engine.NewBoltView(tx), 0)
			for _, g := range groups {
				ow.SetGen(g.Gen)
				for i := range g.Muts {
					if err := engine.ReplayMut(&g.Muts[i], ow); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w: write-ahead log: %v", ErrCorrupt, err)
		}
		w.publish()
		s.wal = w
		return nil
	}
	if len(groups) > 0 {
		if err := s.db.Update(func(tx *bolt.Tx) error { return appliedMark.Replay(engine.NewBoltView(tx), groups) }); err != nil {
			return fmt.Errorf("ckpt: replay write-ahead log: %w", err)
		}
		applied = groups[len(groups)-1].Gen
	}
	if noWAL {
		if err := removeIfExists(path); err != nil {
			return fmt.Errorf("ckpt: remove write-ahead log: %w", err)
		}
		return nil
	}
	log, err := engine.CreateLog(path, s.syncLogTimed)
	if err != nil {
		return err
	}
	w := &walState{log: log, shared: engine.NewTree(), unsynced: engine.NewTree(), gen: applied, written: applied, durable: applied,
		syncReq: make(chan uint64, 1), syncRes: make(chan syncResult, 1), snaps: engine.NewSnapshots(appliedMark)}
	w.ap = engine.NewApplier(engine.ApplierConfig{FS: &s.fs, DBMu: &s.dbMu, DB: &s.db, Snaps: w.snaps,
		Mark: appliedMark, Commit: s.commitBoltTimed, OnApplied: s.obs.applied}, applied)
	w.publish()
	s.wal = w
	go w.ap.Run()
	go w.syncer()
	return nil
}

// logging tells whether writes go through the write-ahead log (not NoWAL,
// not read-only).
func (s *Store) logging() bool { return s.wal != nil && s.wal.ap != nil }

// snapshot begins a read: a bbolt read transaction and, with the log, the
// overlay snapshot that goes with it (internal/engine/snapshot.go);
// endRead ends it. It holds dbMu only while it begins, so Compact does not
// swap the handle meanwhile (and its Close of the old handle waits for the
// transaction to end).
func (s *Store) snapshot() (*bolt.Tx, *engine.Snap, error) { return s.beginSnapshot(nil) }

// beginSnapshot is snapshot; between, if set, runs after each bbolt begin
// and before the overlay is loaded (tests pause readers there).
func (s *Store) beginSnapshot(between func()) (*bolt.Tx, *engine.Snap, error) {
	return s.snapshots().Begin(&s.dbMu, &s.db, between)
}

// flight is a group whose record is in the log but not merged yet: it
// waits for the fsync that makes the log durable up to want, and for the
// groups before it. Later groups read its changes in walState.unsynced.
type flight struct {
	ops   []*writeOp
	errs  []error
	group *engine.Group // nil: nothing to merge (no change, or its record failed)
	tree  *engine.Tree
	off   int64  // where its record starts in the log
	want  uint64 // the log must be durable up to this group first (0: no wait)
}

// syncResult is what the syncer reports: the log is durable up to gen.
type syncResult struct {
	gen uint64
	err error
}

// syncer fsyncs the log on request, so the commit loop goes on applying
// and logging the next groups while the disk works: many writers then
// share each fsync without waiting for one another.
func (w *walState) syncer() {
	for gen := range w.syncReq {
		w.syncRes <- syncResult{gen, w.log.Sync()}
	}
}

// requestSync asks the syncer to make every written record durable, unless
// it is already at work or nothing waits for it.
func (w *walState) requestSync() {
	if w.syncing {
		return
	}
	// Any flight may be the one that waits: a NoSync group (want 0) can
	// follow a Sync group whose fsync is still to come.
	for _, f := range w.flights {
		if f.want > w.durable {
			w.syncing = true
			w.syncReq <- w.written
			return
		}
	}
}

// commitGroupWAL applies ops to a scratch overlay on top of the groups in
// flight, the shared overlay and bbolt, and writes their changes to the
// log as one record. The group is merged (readers see it) and its callers
// acknowledged once the log is durable up to it (finishFlights); a group
// of NoSync ops only waits for the groups before it.
func (s *Store) commitGroupWAL(ops []*writeOp) {
	w := s.wal
	// ops is the commit loop's reused slice: the flight outlives it.
	ops = slices.Clone(ops)
	f := &flight{ops: ops, errs: make([]error, len(ops)), off: w.log.Offset()}
	fail := func(err error) {
		for i := range f.errs {
			if f.errs[i] == nil {
				f.errs[i] = err
			}
		}
	}
	s.pruneApplied()
	if w.unapplied > maxUnapplied || w.log.Offset() > maxLog {
		if err := s.drainFlights(); err != nil {
			fail(err)
			s.ack(ops, f.errs)
			return
		}
		if err := s.applyAll(); err != nil {
			fail(err)
			s.ack(ops, f.errs)
			return
		}
		f.off = w.log.Offset()
	}
	s.dbMu.RLock()
	tx, err := s.db.Begin(false)
	if err != nil {
		s.dbMu.RUnlock()
		fail(fmt.Errorf("ckpt: begin read: %w", err))
		s.ack(ops, f.errs)
		return
	}
	// The commit loop is the only writer of shared and of the flights'
	// trees: it reads them unlocked.
	var base reader = w.shared.LoopView(engine.NewBoltView(tx))
	if w.unsynced.Len() > 0 {
		base = w.unsynced.LoopView(base)
	}
	ow := engine.NewTreeWriter(engine.NewTree(), base, w.written+1)
	needSync, barrier := false, false
	for i, op := range ops {
		if op.apply == nil {
			barrier = true
			continue
		}
		if err := op.ctx.Err(); err != nil {
			f.errs[i] = err
			continue
		}
		u, m := ow.Mark()
		if err := safeApply(op.apply, ow); err != nil {
			ow.Rollback(u, m) // this op alone fails
			f.errs[i] = err
			continue
		}
		if len(ow.Muts()) > m {
			needSync = needSync || op.dur != NoSync
		}
	}
	_ = tx.Rollback()
	s.dbMu.RUnlock()
	if len(ow.Muts()) > 0 {
		n, err := w.log.Append(ow.Gen(), ow.Muts())
		if err != nil {
			// Nothing of the group counts: its scratch tree is dropped, its
			// bytes are erased, and the store stops writing. The groups
			// before it finish as their fsync says.
			fail(s.fs.Fail(engine.FailLog, errors.Join(err, w.log.Erase(f.off))))
		} else {
			w.written = ow.Gen()
			f.group = &engine.Group{Gen: ow.Gen(), Muts: ow.Muts(), Size: n}
			f.tree = ow.Scratch()
			engine.MergeOverlay(w.unsynced, ow.Scratch())
			if needSync {
				f.want = ow.Gen()
			}
		}
	}
	if barrier {
		f.want = w.written // a Flush: everything logged before it
	}
	w.flights = append(w.flights, f)
	s.finishFlights()
	w.requestSync()
}

// finishFlights merges and acknowledges, in order, the groups in flight
// whose wait is over.
func (s *Store) finishFlights() {
	w := s.wal
	n, merged := 0, false
	for _, f := range w.flights {
		if f.want > w.durable {
			break
		}
		if g := f.group; g != nil {
			g.Keys = engine.MergeOverlay(w.shared, f.tree)
			w.gen = g.Gen
			merged = true
		}
		n++
	}
	if merged {
		// Published before anyone is acknowledged, so a caller reads its
		// own write; and before the applier gets the groups, so bbolt never
		// holds a group no snapshot has.
		w.publish()
	}
	for _, f := range w.flights[:n] {
		if g := f.group; g != nil {
			w.groups = append(w.groups, g)
			w.unapplied += g.Size
			s.obs.group(len(f.ops), g.Size, g.Gen)
			w.ap.Add(g)
			s.commits.Add(1)
		}
		s.ack(f.ops, f.errs)
	}
	clear(w.flights[:n])
	w.flights = w.flights[n:]
	if len(w.flights) == 0 && w.unsynced.Len() > 0 {
		w.unsynced = engine.NewTree() // all of it is in shared now
	}
}

// synced takes the syncer's report. A failed fsync fails the store
// (internal/engine/failstop.go) and every group in flight (later ones were built on earlier
// ones); their records are erased, and neither their log space nor their
// group numbers are used again: nothing is logged after a failure.
func (s *Store) synced(res syncResult) {
	w := s.wal
	w.syncing = false
	if res.err != nil {
		cause := fmt.Errorf("ckpt: write-ahead log: fsync: %w", res.err)
		if len(w.flights) > 0 {
			cause = errors.Join(cause, w.log.Erase(w.flights[0].off))
		}
		err := s.fs.Fail(engine.FailLog, cause)
		for _, f := range w.flights {
			for i := range f.errs {
				if f.errs[i] == nil {
					f.errs[i] = err
				}
			}
			s.ack(f.ops, f.errs)
		}
		clear(w.flights)
		w.flights = w.flights[:0]
		w.unsynced = engine.NewTree()
		return
	}
	w.durable = max(w.durable, res.gen)
	s.finishFlights()
	w.requestSync()
}

// drainFlights waits until no group is in flight.
func (s *Store) drainFlights() error {
	w := s.wal
	for len(w.flights) > 0 {
		w.requestSync()
		if !w.syncing {
			return errors.New("ckpt: write-ahead log: groups in flight wait for nothing") // cannot happen
		}
		s.synced(<-w.syncRes)
	}
	return nil
}

// pruneApplied removes from the shared tree what bbolt now holds, and
// rewinds the log when bbolt holds all of it.
func (s *Store) pruneApplied() {
	w := s.wal
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
	engine.PruneOverlay(w.shared, w.groups[:n], applied)
	w.pruned = applied
	w.publish()
	for _, g := range w.groups[:n] {
		w.unapplied -= g.Size
	}
	clear(w.groups[:n])
	w.groups = w.groups[n:]
	if applied == w.gen && len(w.flights) == 0 && s.fs.Failed() == nil {
		w.log.Rewind() // bbolt holds (and has fsync'd) every record
		w.durable = w.written
	}
}

// ApplyLog moves every write acknowledged before it from the write-ahead
// log into the store file, fsync'd there, as Compact and Close do first.
// Tools that read or copy the file itself (its size, a file-level backup)
// call it first. With NoWAL, or read-only, there is nothing to apply.
func (s *Store) ApplyLog(ctx context.Context) error {
	if !s.logging() {
		return s.Flush(ctx)
	}
	// A solo op drains the groups in flight and applies everything first.
	return s.enqueue(ctx, &writeOp{ctx: ctx, dur: Sync, done: make(chan error, 1), solo: func() error { return nil }})
}

// applyAll applies every logged group now (Compact, Close, a full log).
func (s *Store) applyAll() error {
	if err := s.wal.ap.Apply(false); err != nil {
		return err
	}
	s.pruneApplied()
	return nil
}

// closeWAL applies everything, stops the applier and removes the log. If
// applying fails, the log stays: the next Open replays it.
func (s *Store) closeWAL() error {
	w := s.wal
	if w == nil || w.log == nil {
		return nil
	}
	close(w.syncReq)
	w.ap.Stop()
	if s.fs.BoltFailed() {
		// bbolt takes nothing more: the log keeps the durable groups
		// bbolt lacks, for the next Open.
		if w.ap.Applied() < w.gen {
			return w.log.Close()
		}
		return w.log.Remove()
	}
	if err := s.applyAll(); err != nil {
		return errors.Join(err, w.log.SyncAndClose())
	}
	return w.log.Remove()
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
