package engine

// The file's binding to its log (Mark.Bind) and its live mark
// (Mark.SetLive), written in one commit before the log's first record:
// Open refuses a log with records whose identity is not the file's, and
// a file that says its log is live refuses to open without it. Both only
// matter once the log holds a record: a log with its header alone holds
// nothing to refuse or to lose (a crash between the log's creation and
// the binding leaves exactly that, and the next Open takes it). So a
// read-write Open that wrote nothing to the file binds its new log only
// before the log's first record (bindFirst, from sealGroup), not at once:
// an Open and a Close that write nothing then leave the file
// byte-identical, its mtime too (a backup that copies what changed, a
// `ckpt rekey` or `gc` with nothing to do), where they made two commits
// (the binding, then Close's clearing of the live mark). An Open that
// wrote to the file already (a replay, a repaired mark) binds at once,
// in a commit of its own as before.

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bindLog binds the file to the log of identity id at group applied, and
// marks it live, in a commit of Open's. markLen (readWAL): the mark, not
// 8 bytes, was taken as group applied (0); unless replayed (the replay
// wrote the mark), it is written as that here so that it agrees with
// the binding (Mark.Check): left, Verify reported it until a write's
// apply moved the mark.
func (e *Engine) bindLog(mark Mark, id, applied uint64, replayed bool) error {
	if mark.Log == nil && mark.Live == nil {
		return nil
	}
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

// bindFirst binds the file to the log before the log's first record, if
// Open did not (walState.bound), at the group bbolt holds: nothing was
// logged since Open, so nothing was applied. The commit loop calls it;
// it pauses the applier (which has nothing to apply yet) as HoldCopy
// does, so it waits for a Hold (a Backup's copy, Verify's page check),
// whose view of the file no commit may change. A failure is the group's:
// one for want of room that bbolt rolled back cleanly fails the group
// alone, the file as it was, and the next group tries again; any other
// fails the store (writeLive), and the file may say its log is live
// (bound stays set: Close keeps the log then).
func (e *Engine) bindFirst() error {
	w := e.wal
	if w.bound.Load() {
		return nil
	}
	w.ap.Lock()
	defer w.ap.Unlock()
	w.bound.Store(true)
	id := w.log.ID()
	err := e.writeLive("write-ahead log: bind it to the store file", true, func(wr Writer) error {
		if err := e.mark.Bind(wr, id, w.written); err != nil {
			return err
		}
		return e.mark.SetLive(wr, id)
	})
	if err != nil && errors.Is(err, ErrDiskFull) && e.fs.Failed() == nil {
		w.bound.Store(false) // rolled back cleanly (writeLive): the file as it was
	}
	return err
}

// clearLiveForCopy is HoldCopy's clearing of the live mark, the applier
// held: none if the file is not bound to its log yet (bind.go), which it
// then does not say is live, nor will until the applier is let go
// (bindFirst waits for it).
func (e *Engine) clearLiveForCopy() error {
	if !e.wal.bound.Load() {
		return nil
	}
	return e.writeLive("clear the live mark for a copy", true, e.mark.ClearLive)
}
