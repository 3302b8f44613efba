package engine

// The open group (h31-writers): ops the commit loop takes while the
// log's fsync is in flight join one group, logged as one record when
// that fsync ends. Split out of commit.go, which keeps the flights, the
// syncer's reports and the acknowledgements.

import (
	"errors"
	"fmt"
	"runtime"
)

// openGroup is the group the commit loop is building (walState.og): the
// ops of every batch the loop takes while the log's fsync is in flight
// join it, and it is logged as one record when that fsync ends. None of
// its ops could be acknowledged before the fsync after its own record
// anyway, and one record per fsync instead of one per batch pays one
// pwrite, one tree in flight and one flight for them all (a batch
// held 1.7 writes, three batches per fsync, with 16 writers).
type openGroup struct {
	f        *flight // nil: no group is open
	scope    treeScope
	needSync bool // some op that changed something waits for an fsync
	barrier  bool // the group holds a Flush
}

// syncing tells whether the syncer has an fsync to report: the open group
// may wait for it.
func (w *walState) syncing() bool { return w.asked > w.durable && !w.syncFailed }

// logGroup adds ops to the open group (opening one if none is), on top of
// the groups in flight, the shared overlay and bbolt, and logs the group
// as one record (sealGroup) unless it must wait for an fsync (trySeal):
// more ops then join it meanwhile. The group is merged (readers see it)
// and its callers acknowledged once the log is durable up to it
// (finishFlights); a group of NoSync ops only waits for the groups before
// it. rest are the ops left for the next group: those from the first
// whose changes would have passed the log's record limit (applyOps), none
// otherwise. A full group, or one not open (built by hand, in a solo op),
// is logged before logGroup returns, once it may be (sealNow).
func (e *Engine) logGroup(all []*Op, open bool) (rest []*Op) {
	w := e.wal
	if w.og.f == nil && !e.openGroup(all) {
		return nil
	}
	batch := all
	if room := MaxGroup - len(w.og.f.ops); len(batch) > room {
		batch = batch[:room] // MaxGroup bounds the group, not a batch
	}
	taken := e.addOps(batch)
	if taken < len(all) {
		rest = all[taken:]
	}
	if !open || rest != nil || len(w.og.f.ops) >= MaxGroup {
		e.sealNow() // full: the next ops need a group of their own
	} else {
		e.trySeal()
	}
	return rest
}

// trySeal logs the open group (sealGroup) if its record may be written
// now, and tells whether it did. It may not while the log's fsync is in
// flight: more ops join it meanwhile, and a record written then would say
// the record ahead of it was not durable yet (its lag over 1, wal.go).
// Nor may a group that anyone waits for (a Sync op, a Flush) while a
// record written before it is not durable: the fsync of those is asked
// for first, and the group is logged when it ends. So every record a
// caller waits for says that every group before it was durable when it
// was written (lag 1), and no record at all is written while a record
// that callers wait for is not yet durable: after a power cut, the scan
// may drop a bad record followed only by records written before it was
// durable (a power cut's), as no acknowledged record is among them
// (wal.go's header). A NoSync group does not wait: its record may be
// written with a lag over 1, and a power cut may take it, as NoSync
// allows.
func (e *Engine) trySeal() bool {
	w := e.wal
	if w.syncing() {
		return false
	}
	if og := &w.og; (og.needSync || og.barrier) && w.durable < w.written && !w.syncFailed && e.fs.Failed() == nil {
		w.asked = w.written
		w.sync.ask(w.written)
		return false
	}
	e.sealGroup()
	return true
}

// sealNow logs the open group once trySeal may, waiting for the syncer
// meanwhile (a full group, a drain): the commit loop takes no ops until
// then. A failed fsync drops the group instead (synced).
func (e *Engine) sealNow() {
	w := e.wal
	for w.og.f != nil && !e.trySeal() {
		e.synced(w.sync.wait())
	}
}

// openGroup starts a group; false if it cannot (the log or bbolt failed
// to take what it holds): ops are then failed and acknowledged.
func (e *Engine) openGroup(ops []*Op) bool {
	w := e.wal
	if err := e.fs.Failed(); err != nil {
		// Heard while the ops before these were logged (sealNow waits for
		// the syncer, whose failure fails the store): nothing is logged.
		errs := make([]error, len(ops))
		failRest(errs, err)
		e.ack(ops, errs)
		return false
	}
	e.pruneApplied()
	if w.unapplied > maxUnapplied || w.log.Offset() > w.log.bound() {
		err := e.drainFlights()
		if err == nil {
			err = e.applyAll()
		}
		if err != nil {
			errs := make([]error, len(ops))
			failRest(errs, err)
			e.ack(ops, errs)
			return false
		}
	}
	ow := &w.ow
	ow.reuse(NewTree(), nil, w.written+1)
	// The group's change log goes to the log and stays with the group
	// until the applier has it: sized after the last group's, it need not
	// grow (and copy) a dozen times per group.
	ow.muts = make([]Mutation, 0, w.mutsHint+w.mutsHint/4+8)
	w.og = openGroup{f: &flight{ops: make([]*Op, 0, len(ops))},
		scope: treeScope{w: ow, limit: recordLimit(e.hooks.MaxRecordBody)}}
	return true
}

// addOps applies ops to the open group's scratch tree, in a read
// transaction of their own: none is held between batches, so the applier
// and pruneApplied go on meanwhile (the scratch tree holds only the
// group's own changes, and reads below it find the same state in a later
// bbolt and shared as in an earlier pair). The tree takes any op back: no
// op fails the group half-way. taken: how many of the ops the group
// holds (applyOps); the others start the next group.
func (e *Engine) addOps(all []*Op) (taken int) {
	w, og := e.wal, &e.wal.og
	f := og.f
	// all is the commit loop's reused slice: the flight outlives it.
	start := len(f.ops)
	f.ops = append(f.ops, all...)
	f.errs = append(f.errs, make([]error, len(all))...)
	ops, errs := f.ops[start:], f.errs[start:]
	e.dbMu.RLock()
	tx, err := e.beginRead(e.db)
	if err != nil {
		e.dbMu.RUnlock()
		failRest(errs, fmt.Errorf("ckpt: begin read: %w", err))
		return len(all)
	}
	// The commit loop is the only writer of shared and of the flights'
	// trees: it reads them unlocked. The bbolt view is a pooled one (a
	// kilobyte of cache room otherwise made per group).
	bv := readView(tx)
	bv.walkBytes, bv.valuesOnly = e.hooks.WalkBytes, e.valuesOnly
	w.sharedView.aim(w.shared, bv)
	var base Reader = &w.sharedView
	// The groups in flight, each over the ones before it, as they will be
	// merged into shared. A view per flight, not one tree they are all
	// merged into (walState.unsynced until h157), spares every entry a
	// second merge, and keeps nothing of a group once shared has it: that
	// tree, cleared only when no group was in flight, held every value
	// written since the last pause under a steady load. The chain stays
	// short: a group is logged only while no fsync is in flight (trySeal),
	// so the groups before it finish as it is logged (one waits at a time).
	// Grown before any is aimed: each view's base points at the one
	// before it in this array, which an append mid-chain would move.
	if n := len(w.flights); len(w.flightViews) < n {
		w.flightViews = append(w.flightViews, make([]View, n-len(w.flightViews))...)
	}
	views := 0
	for _, f := range w.flights {
		if f.tree == nil || f.tree.Len() == 0 {
			continue
		}
		v := &w.flightViews[views]
		v.aim(f.tree, base)
		base = v
		views++
	}
	ow := &w.ow
	ow.View.aim(ow.tree, base)
	_, needSync, barrier, taken, _ := applyOps(ops, errs, ow, &og.scope)
	og.needSync = og.needSync || needSync
	og.barrier = og.barrier || barrier
	if taken < len(ops) {
		f.ops, f.errs = f.ops[:start+taken], f.errs[:start+taken]
	}
	// Nothing read through the views outlives the transaction: the ops
	// copy what they keep.
	ow.View.aim(ow.tree, nil)
	w.sharedView.drop()
	for i := range views {
		w.flightViews[i].drop()
	}
	bv.recycle()
	EndRead(tx)
	e.dbMu.RUnlock()
	return taken
}

// sealGroup logs the open group as one record, asks for its fsync, and
// puts it in flight.
func (e *Engine) sealGroup() {
	w, og := e.wal, &e.wal.og
	f := og.f
	og.f = nil
	ow := &w.ow
	muts, scratch, gen := ow.Muts(), ow.Scratch(), ow.Gen()
	ow.release()
	w.mutsHint = len(muts)
	f.off = w.log.Offset() // a rewind may have moved it since the group opened
	if len(muts) > 0 && w.rewound && e.fs.Failed() == nil {
		// The first record of a new pass over the file: the earlier
		// pass's first record goes first (Log.ClearHead).
		w.rewound = false
		err := w.log.ClearHead()
		if err == nil && (w.shrink || w.log.oversized()) {
			// bbolt holds every record and the log ends at its header
			// now: what a burst, one large record or (Compact)
			// everything before grew it to goes back to the file
			// system, the file cut at its header (Log.Shrink).
			w.shrink = false
			err = w.log.Shrink()
		}
		if err != nil {
			_ = e.persistFailed(FailLog, err)
		}
	}
	failed := false
	fail := func(err error) { failRest(f.errs, err) }
	switch err := e.fs.Failed(); {
	case err != nil:
		// The store failed while the group was open (its fsync ahead, or
		// bbolt under the applier): nothing more is logged, and its
		// Flush, failed with it, waits for nothing (a syncer that failed
		// makes nothing durable any more).
		fail(err)
		failed = true
	case len(muts) > 0:
		if err := e.bindFirst(); err != nil {
			// Nothing of the group is logged (bind.go). A binding that
			// found no room, rolled back cleanly, fails the group's
			// writes alone, as a record that finds none (failWrites).
			if errors.Is(err, ErrDiskFull) && e.fs.Failed() == nil {
				failWrites(f.ops, f.errs, err)
			} else {
				fail(err)
			}
			break
		}
		n, err := w.log.Append(gen, w.durable, muts)
		switch {
		case errors.Is(err, ErrDiskFull):
			// No room for its record: the group fails alone. Nothing of it
			// is in the log (Append), its scratch tree is dropped, and the
			// next group takes its place and number; the groups before it
			// finish as their fsync says. A Flush in it waits for those
			// (failWrites).
			failWrites(f.ops, f.errs, err)
		case err != nil:
			// Nothing of the group counts: its scratch tree is dropped, its
			// bytes are erased, and the store stops writing. The groups
			// before it finish as their fsync says.
			fail(e.persistFailed(FailLog, errors.Join(err, w.log.Erase(f.off))))
		default:
			w.written = gen
			f.group = &Group{Gen: gen, Muts: muts, Size: n, LogID: w.log.ID()}
			f.tree = scratch
			if og.needSync {
				f.want = gen
			}
		}
	}
	if og.barrier && !failed {
		// A Flush: everything logged before it (and a proof after that,
		// vouch, before it is acknowledged).
		f.want = w.written
	}
	w.flights = append(w.flights, f)
	// The fsync starts before the merges and acknowledgements below. The
	// syncer the ask wakes waits in this goroutine's run queue while the
	// other core runs a writer: without the yield, it started its fsync
	// only once the loop blocked, after the merges and acks, and the log's
	// fsyncs kept the disk busy 0.67 of the time instead of 0.84 (16
	// writers, bench --writers-only, 2 cores).
	asked := w.asked
	w.requestSync()
	if w.asked != asked {
		runtime.Gosched()
	}
	// A group that waits (for its fsync, or behind groups that wait) is
	// read by the next groups through its tree meanwhile (addOps); one
	// that finishes below, at once (NoSync, nothing ahead of it), goes
	// straight into shared, which the next group reads.
	e.finishFlights()
	w.requestSync()
}

// dropOpenGroup fails the open group's ops with err (nothing of it was
// logged) and acknowledges them.
func (e *Engine) dropOpenGroup(err error) {
	w := e.wal
	f := w.og.f
	if f == nil {
		return
	}
	w.og.f = nil
	w.ow.release()
	failRest(f.errs, err)
	e.ack(f.ops, f.errs)
}
