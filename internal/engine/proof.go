package engine

// Proofs (wal.go's header): before the commit loop acknowledges groups as
// durable, a record after them must say they were, so that damage to the
// log's last acknowledged record is refused, never read as a torn tail.
// Split from commit.go, which calls these where groups are acknowledged
// (finishFlights, synced) and where Close keeps the log (closeWAL).

import (
	"errors"
	"time"
)

// vouch writes a proof after the log's last record (wal.go) once the log
// is durable up to it and no record says so yet: finishFlights calls it
// before it acknowledges groups as durable. Without it, the last record
// of the log (a Sync write's, or NoSync ones' a Flush waited for) would
// have nothing after it saying it was ever durable: damaged on the medium
// later, it would read as a torn tail, and Open would drop an
// acknowledged write with no error. synced writes it before it seals
// the next group: that group's record says the same (lag 1), but a
// failure of its own fsync erases it. One write of 32 bytes, not fsync'd
// (a power cut that takes it leaves the log as before), in room Append
// reserved. A store failed by bbolt still writes it (the log is sound,
// and Close keeps it for the next Open); one failed by the log does not.
//
// A proof that cannot be written sets unproven: the groups are durable,
// so failing them would be worse (a write that returned an error would
// show up after the next Open), and finishFlights has bbolt take them
// before it acknowledges them (backByBolt).
func (e *Engine) vouch() {
	w := e.wal
	if w.proven >= w.written || w.durable < w.written {
		return
	}
	if w.syncFailed || (e.fs.Failed() != nil && !e.fs.BoltFailed()) {
		w.unproven = true // the log takes no more records
		return
	}
	off := w.log.Offset()
	switch err := w.log.AppendProof(w.written); {
	case errors.Is(err, ErrDiskFull):
		// Room reserved, yet none (a copy-on-write file system takes new
		// room to overwrite the zeros): the store goes on (a full disk
		// fails no more than one group, Append), and bbolt takes the
		// groups before they are acknowledged.
		w.unproven = true
		return
	case err != nil:
		// Nothing is logged after this: the store fails, and bbolt takes
		// the groups before they are acknowledged.
		_ = e.persistFailed(FailLog, errors.Join(err, w.log.Erase(off)))
		w.unproven = true
		return
	}
	w.proven = w.written
	w.unproven = false // this proof says it of every record before it
}

// vouchKeptLog: Close keeps the log (bbolt could not take it) and says it
// holds every write. If no record says its last groups were durable
// (NoSync groups, applied by nobody), damage to one of them later would
// read as a torn tail or a power cut's (wal.go): the log is fsync'd and a
// proof appended after them. Best effort: a failure leaves the log as it
// was (SyncAndClose reports a failed fsync).
func (e *Engine) vouchKeptLog() {
	w := e.wal
	if w.proven >= w.written || w.log.Sync() != nil {
		return
	}
	if w.log.AppendProof(w.written) == nil {
		w.proven = w.written
	}
}

// backByBolt: a proof could not be written (vouch), and groups are about
// to be acknowledged as durable (their records, fsync'd, are in the log
// with nothing after them that says so): bbolt takes every group handed
// to the applier first, so that the store file holds them whatever
// happens to the log's last record. Best effort, and never a wait on
// what may not end: the groups are acknowledged all the same, durable in
// the log, if bbolt cannot take them (no room: tried again no sooner than
// the background applier would; its commit failed, which fails the
// store) or if a Backup's copy or a page check holds the applier (its
// caller may be writing: ApplyUnlessHeld). docs/durability.md "A damaged log" says
// what damage to that record can then still do.
func (e *Engine) backByBolt() {
	w := e.wal
	w.unproven = false
	if time.Now().Before(w.backAfter) {
		return
	}
	switch err := w.ap.ApplyUnlessHeld(); {
	case err == nil:
		e.pruneApplied()
	case errors.Is(err, ErrDiskFull):
		w.backAfter = time.Now().Add(applyRetryMin)
	}
}
