package engine

// The file's binding to its log (Mark.Bind) and its live mark
// (Mark.SetLive), written in one commit before the log's first record:
// Open refuses a log with records whose identity is not the file's, and
// a file that says its log is live refuses to open without it. Both only
// matter once the log holds a record: a log with its header alone holds
// nothing to refuse or to lose (a crash between the log's creation and
// the binding leaves exactly that, and the next Open takes it). So a
// read-write Open of a healthy file binds its new log lazily, before the
// log's first record (bindFirst: sealGroup), or before a Backup's copy
// holds the file (HoldCopy: a write during the copy, its progress
// callback's among them, could not commit the binding then, bbolt and
// the applier held). An Open and a Close that write nothing then leave
// the file byte-identical, its mtime too (reads, a GC or a Rekey with
// nothing to do), where they made two commits (the binding, then
// Close's clearing of the live mark). An Open that writes to the file
// anyway, or must repair it (a replay, a live mark to clear, a mark or a
// binding that disagree: bindAtOpen), binds at once, in a commit of its
// own, as before.

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bindAtOpen says whether a read-write Open binds its new log at once:
// it replayed groups or cleared a live mark (replayed, live), or the
// file's mark and binding need the repair the binding commit makes: a
// mark not 8 bytes (markLen, written as group applied with the
// binding), a damaged binding, or a whole one whose group is not the
// mark's (Mark.Check: a kill between the steps of a recovery, a damaged
// mark that Verify reports until the binding is written again). A
// healthy file is not written.
func (e *Engine) bindAtOpen(mark Mark, replayed, live bool) (bool, error) {
	if mark.Log == nil && mark.Live == nil {
		return false, nil
	}
	if replayed || live || e.markLen {
		return true, nil
	}
	var repair bool
	err := viewRead(e.db, func(tx *bolt.Tx) error {
		c := mark.Check(NewBoltView(tx))
		repair = c.BadMark != nil || c.BadBinding != nil
		return nil
	})
	return repair, err
}

// bindLog binds the file to the log of identity id at group applied,
// and marks it live, in a commit of Open's. markLen (readWAL): the mark,
// not 8 bytes, was taken as group applied (0); unless replayed (the
// replay wrote the mark), it is written as that here so that it agrees
// with the binding (Mark.Check): left, Verify reported it until a
// write's apply moved the mark.
func (e *Engine) bindLog(mark Mark, id, applied uint64, replayed bool) error {
	err := e.db.Update(func(tx *bolt.Tx) error {
		if err := mark.Bind(NewBoltView(tx), id, applied); err != nil {
			return err
		}
		if e.markLen && !replayed {
			if err := mark.SetApplied(NewBoltView(tx), applied); err != nil {
				return err
			}
		}
		return mark.SetLive(NewBoltView(tx), id)
	})
	if err != nil {
		return fmt.Errorf("ckpt: write-ahead log: bind it to the store file: %w", err)
	}
	return nil
}

// bindFirst binds the file to the log, and marks it live, if Open did
// not (walState.bound), at the group bbolt holds: nothing was logged
// since Open, so nothing was applied. Only the commit loop calls it
// (sealGroup before the first record, HoldCopy in a solo op), so two
// never race. It pauses the applier (which has nothing to apply yet) as
// HoldCopy does, so it waits for a Hold (Verify's page check, a bulk
// delete's), whose view of the file no commit may change; a Backup's
// hold never makes it wait: HoldCopy binds before it holds. The commit
// is neither the observer's nor Hooks.CommitBolt's (writeLiveBy), as
// Open's binding was not: tests count the applier's commits through that
// hook (TestH34DamagedAppliedFirstRecord... hung when the binding was
// its first); Hooks.CommitBind is its own. A
// failure: one for want of room that bbolt rolled
// back cleanly fails the caller alone, the file as it was, and the next
// write tries again; any other fails the store (writeLive), and the file
// may say its log is live (bound stays set: Close keeps the log then).
func (e *Engine) bindFirst() error {
	w := e.wal
	if w.bound.Load() {
		return nil
	}
	w.ap.Lock()
	defer w.ap.Unlock()
	w.bound.Store(true)
	id := w.log.ID()
	uncounted := func(tx *bolt.Tx) error {
		return e.held.meta.commit(tx, e.hooks.CommitBind)
	}
	err := e.writeLiveBy("write-ahead log: bind it to the store file", true, func(wr Writer) error {
		if err := e.mark.Bind(wr, id, w.written); err != nil {
			return err
		}
		return e.mark.SetLive(wr, id)
	}, uncounted)
	if err != nil && errors.Is(err, ErrDiskFull) && e.fs.Failed() == nil {
		w.bound.Store(false) // rolled back cleanly (writeLive): the file as it was
	}
	return err
}

// writeLive sets or clears the live mark (fn: Mark.SetLive or
// Mark.ClearLive) in a commit of its own, made as the applier makes its
// commits: no pooled read idle across it (a commit that grows the map
// would wait for it forever), begun and used through the fail-stop paths;
// a failure fails the store (FailBolt), as the applier's does, except,
// with alone, one for want of room that bbolt rolled back cleanly
// (revertFull): that fails this call alone with ErrDiskFull, the file as
// it was (a streamed Backup or a Close on a full disk failed the store,
// every write after it refused until a reopen). The caller keeps the
// applier from committing meanwhile.
func (e *Engine) writeLive(what string, alone bool, fn func(w Writer) error) error {
	return e.writeLiveBy(what, alone, fn, e.commitBolt)
}

// writeLiveBy is writeLive committing with commit: bindFirst's commit is
// not the observer's nor the CommitBolt hook's (Metrics.BoltCommits counts
// the applier's and the commit loop's writes; Open's binding was never
// counted or hooked either).
func (e *Engine) writeLiveBy(what string, alone bool, fn func(w Writer) error, commit func(*bolt.Tx) error) error {
	ss := e.snapshots()
	ss.Quiesce()
	defer ss.Resume()
	e.dbMu.Lock()
	tx, err := e.fs.BeginWrite(e.db)
	e.dbMu.Unlock()
	committing, keep := false, uint64(0)
	var db *bolt.DB // the handle tx began on (revertFull)
	if err == nil {
		keep, db = uint64(tx.ID())-1, tx.DB() // the committed transaction tx begins from
		err = e.fs.GuardWrite(what, tx, func() error {
			if err := fn(NewBoltView(tx)); err != nil {
				_ = tx.Rollback()
				return err
			}
			committing = true
			return commit(tx)
		})
	}
	if err != nil && committing && alone && boltCleanFull(err) {
		clean, rerr := revertFull(e.file, db, tx, keep, err)
		if clean {
			return fmt.Errorf("ckpt: %s: %w", what, boltFull(err))
		}
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return e.fs.Fail(FailBolt, fmt.Errorf("ckpt: %s: %w", what, err))
	}
	return nil
}
