package engine

// One commit path for both modes. commitGroup builds every group the same
// way (applyOps): the ops run in queue order on the group's writer, each
// checked for its context first, a panic becomes its error, an op that
// fails is taken back alone and its group goes on without it. The group is
// then made durable, by the log (logGroup, commit.go: one record appended,
// fsync'd by the syncer, merged and acknowledged once durable, applied to
// bbolt later) or by a bbolt commit (boltGroup), and a failed persist goes
// through persistFailed: the store fails (failstop.go) and so does every op
// of the group not already failed. Once the store has failed, every group
// fails whole, in both modes.
//
// What still differs, and why:
//   - The writer. With the log, ops write a scratch overlay tree on top of
//     a bbolt read transaction: the tree's changes are the log record, and
//     readers see them only once the record is durable. Without it, ops
//     write bbolt's write transaction itself: no second copy of the
//     changes, as the commit is the persist.
//   - Taking an op back. The tree undoes one op (Mark/Rollback); bbolt has
//     no savepoints, so an op that fails after a change rolls the whole
//     transaction back and each op of the group is committed on its own.
//   - Waiting for the disk. A logged group waits for the syncer's fsync
//     while the commit loop builds the next groups (pipelined); a bbolt
//     commit fsyncs in place (db.NoSync toggled per transaction), and a
//     Flush fsyncs what NoSync commits left (ack, loop.go).
//   - What a failed persist leaves. A failed log write or fsync erases the
//     group's record (its space and number are never used again) and is
//     FailLog: bbolt is sound, and Close still applies the durable groups
//     to it. A failed bbolt commit is FailBolt: what bbolt wrote is
//     unknown, and nothing more is written to it.

import (
	"errors"
	"fmt"
)

// opScope takes one op of a group back from the group's writer.
type opScope interface {
	// start marks where the next op begins.
	start()
	// wrote tells whether the op since start changed anything.
	wrote() bool
	// takeBack undoes the op since start; false if the writer cannot
	// (then the op's changes are still in the group).
	takeBack() bool
	// over tells, after an op that wrote, whether the group's changes
	// now pass the log's record limit, and if so takes the op back: cut,
	// the op starts the next group; alone, the op passes the limit by
	// itself, and fails alone.
	over() (cut bool, alone error)
}

// treeScope takes an op back from a scratch overlay tree (logGroup), and
// keeps the group's log record within limit: the ops of a group are each
// legal, their sum need not be.
type treeScope struct {
	w     *TreeWriter
	u, m  int
	limit uint64 // the longest record body (recordLimit)
	size  uint64 // the encoded length of the group's changes, without their count
}

func (s *treeScope) start()      { s.u, s.m = s.w.Mark() }
func (s *treeScope) wrote() bool { return len(s.w.Muts()) > s.m }
func (s *treeScope) takeBack() bool {
	s.w.Rollback(s.u, s.m)
	return true
}

func (s *treeScope) over() (bool, error) {
	muts := s.w.Muts()
	op := mutsBytes(muts[s.m:])
	if uvarintLen(uint64(len(muts)))+s.size+op <= s.limit {
		s.size += op
		return false, nil
	}
	s.takeBack()
	if s.m == 0 { // nothing before it in the group: it alone is too large
		return false, errGroupTooLarge(uvarintLen(uint64(len(muts)))+op, s.limit)
	}
	return true, nil
}

// boltScope tells whether an op wrote bbolt's write transaction
// (boltGroup); it cannot take back what it wrote.
type boltScope struct{ v *BoltView }

func (s boltScope) start()         { s.v.SetWrote(false) }
func (s boltScope) wrote() bool    { return s.v.Wrote() }
func (s boltScope) takeBack() bool { return !s.v.Wrote() }

// over: a bbolt transaction has no record to fit.
func (s boltScope) over() (bool, error) { return false, nil }

// applyOps runs ops on w, in order, and sets errs[i] for each op that
// fails alone. wrote: some op changed something; needSync: some op that
// changed something waits for an fsync; barrier: the group holds a Flush.
// halfway is the error of an op that failed after a change sc cannot take
// back: the group is then unusable (the caller retries each op alone).
// taken is how many ops the group holds: fewer than len(ops) when the op
// at taken would have passed the log's record limit (sc.over), and
// starts the next group.
func applyOps(ops []*Op, errs []error, w Writer, sc opScope) (wrote, needSync, barrier bool, taken int, halfway error) {
	for i, op := range ops {
		if op.Apply == nil {
			barrier = true
			continue
		}
		if err := op.Ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if !op.take() {
			errs[i] = op.Ctx.Err() // its caller left (Await): its ctx ended
			continue
		}
		sc.start()
		if err := safeApply(op.Apply, w); err != nil {
			if !sc.takeBack() {
				return wrote, needSync, barrier, i, err
			}
			errs[i] = err // this op alone fails
			continue
		}
		if sc.wrote() {
			cut, alone := sc.over()
			if cut {
				return wrote, needSync, barrier, i, nil
			}
			if alone != nil {
				errs[i] = alone
				continue
			}
			wrote = true
			needSync = needSync || !op.NoSync
		}
	}
	return wrote, needSync, barrier, len(ops), nil
}

// persistFailed fails the store after a failed persist of a group (a log
// write or fsync, src FailLog; a bbolt commit, FailBolt) and returns the
// error the group's ops and every later write get.
func (e *Engine) persistFailed(src FailSource, cause error) error {
	return e.fs.Fail(src, cause)
}

// failRest sets err for every op that has no outcome yet.
func failRest(errs []error, err error) {
	for i := range errs {
		if errs[i] == nil {
			errs[i] = err
		}
	}
}

// failWrites sets err for every op that writes (Apply) and has no
// outcome yet: the failure of a group's commit that found no room (the
// group failed alone, nothing of it was written, the store goes on). A
// barrier in the group wrote nothing: its outcome is whether the groups
// before it are durable, and the failures of the Async writes beside it
// are theirs, taken by a Flush or left for the next one (KeepAsync); as
// its own error too they were reported twice, and WaitDurable (Rekey)
// failed for a failure not its own.
func failWrites(ops []*Op, errs []error, err error) {
	for i, op := range ops {
		if errs[i] == nil && op.Apply != nil {
			errs[i] = err
		}
	}
}

// commitGroup makes ops one group, durable by the log or by bbolt, and
// acknowledges them (with the log, once the group is durable).
func (e *Engine) commitGroup(ops []*Op) { e.commitOps(ops, false) }

// commitOps is commitGroup for the commit loop: with open, the ops may
// join the open group (logGroup), which more ops join until the log's
// fsync in flight ends.
func (e *Engine) commitOps(ops []*Op, open bool) {
	if err := e.fs.Failed(); err != nil {
		errs := make([]error, len(ops))
		failRest(errs, err)
		e.ack(ops, errs)
		return
	}
	if e.Logging() {
		// A group whose changes would pass the log's record limit is cut
		// there: the op that would pass it starts the next one.
		for len(ops) > 0 {
			ops = e.logGroup(ops, open)
		}
		return
	}
	e.boltGroup(ops)
}

// boltGroup applies ops in one bbolt write transaction, commits it and
// acknowledges them (NoWAL).
func (e *Engine) boltGroup(ops []*Op) {
	errs := make([]error, len(ops))
	hasWork := false
	for _, op := range ops {
		hasWork = hasWork || op.Apply != nil
	}
	if !hasWork {
		e.ack(ops, errs)
		return
	}
	tx, err := e.fs.BeginWrite(e.db)
	if err != nil {
		failRest(errs, fmt.Errorf("ckpt: begin transaction: %w", err))
		e.ack(ops, errs)
		return
	}
	tx.DB().AllocSize = GrowStep(tx.Size()) // as the applier does
	keep, db := uint64(tx.ID())-1, tx.DB()  // the transaction tx begins from, on db
	view := NewBoltView(tx)
	wrote, needSync, _, _, halfway := applyOps(ops, errs, view, boltScope{view})
	if halfway != nil {
		// An op failed half-way: the transaction holds part of it. Roll
		// back and apply each op on its own, so only the failing one fails.
		_ = tx.Rollback()
		if len(ops) == 1 {
			e.ack(ops, []error{halfway})
			return
		}
		for _, op := range ops {
			e.commitGroup([]*Op{op})
		}
		return
	}
	if !wrote {
		_ = tx.Rollback()
		e.ack(ops, errs)
		return
	}
	if needSync {
		// A durable commit into a file no longer at the path would be
		// lost with it (held_files.go): nothing is written, and the store
		// stops as after a failed commit.
		if err := e.held.db.Load().stillThere(); err != nil {
			_ = tx.Rollback()
			failRest(errs, e.persistFailed(FailBolt, fmt.Errorf("ckpt: commit: %w", err)))
			e.ack(ops, errs)
			return
		}
	}
	// A NoSync group's commit fsyncs too. bbolt orders its meta page
	// after the pages it names only by the fsync between them: unsynced,
	// a power cut can keep the meta page and lose its pages, a file Open
	// refuses, with every Sync write before it (the log orders its
	// records itself; here bbolt is the only copy). db.NoSync stays what
	// Options.Bolt said.
	if err := e.fs.GuardWrite("commit", tx, func() error { return e.commitBolt(tx) }); err != nil {
		// Its new meta page may be written (the last fsync failed): put
		// keep's back, or the failed ops would be read, now and after a
		// reopen (RevertMeta).
		clean, rerr := revertFull(e.file, db, tx, keep, err)
		if clean {
			// No room, rolled back cleanly (diskfull.go): the group fails
			// alone, bbolt is as it was, the store goes on.
			failWrites(ops, errs, fmt.Errorf("ckpt: commit: %w", boltFull(err)))
			e.ack(ops, errs)
			return
		}
		// Otherwise what bbolt wrote before the failure is unknown: stop
		// writing.
		err = errors.Join(err, rerr)
		failRest(errs, e.persistFailed(FailBolt, fmt.Errorf("ckpt: commit: %w", err)))
	} else {
		e.commits.Add(1)
		e.obs.Group(len(ops), 0, 0)
		// Only Options.Bolt's NoSync leaves a commit unsynced (Flush
		// fsyncs it then); an fsync'd commit makes earlier ones durable
		// too: fdatasync covers the whole file.
		e.unsynced = e.db.NoSync
	}
	e.ack(ops, errs)
}
