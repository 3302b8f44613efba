package engine

// The commit loop: every write of the store is an op queued to one
// goroutine, which takes everything queued, applies it as one group,
// makes the group durable (commit.go) and then acknowledges each caller.
// A lone writer commits at once (no timer: bbolt's own Batch waits up to
// 10 ms for company and gave 82 commits/s to a single writer here); while
// a commit is in flight new ops gather for the next one, so many writers
// share one fsync: with the log, the ops taken while its fsync is in
// flight join one open group, logged when that fsync ends (commit.go).

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// MaxGroup bounds the ops applied in one group, so one commit stays short
// even under a flood of writes.
const MaxGroup = 1024

// Op is one queued operation. Apply must check everything that can fail
// before it changes anything: an op that fails before its first change
// fails alone, its group commits without it.
type Op struct {
	Ctx   context.Context
	Apply func(w Writer) error // nil: a flush barrier (or Solo)
	// Solo, if set, runs alone in the commit loop, outside any
	// transaction, after every op queued before it is committed and
	// applied to bbolt, and before any op queued after it (Compact:
	// writers wait in the queue meanwhile).
	Solo func() error
	// Settle, with Solo, makes a solo op that only waits for the groups
	// in flight, also on a failed store (Engine.Settle), and runs nothing.
	Settle bool
	// NoSync: the op is acknowledged once committed to the operating
	// system, without waiting for an fsync.
	NoSync bool
	// NoWrite: the op writes nothing (a wait for the ops queued before
	// it): its caller may leave whenever its ctx ends, taken or not (take
	// leaves its claim alone), and the loop runs it all the same.
	NoWrite bool
	// Done receives the outcome; nil (an Async write): acknowledged when
	// queued, a failure goes to the async errors (TakeAsyncErr) and to
	// OnAsyncError (called off the loop: callbacks.go). A
	// barrier's outcome includes the async errors taken so far, unless
	// KeepAsync.
	Done chan error
	// KeepAsync, on a barrier, leaves the async failures for the next
	// Flush or Close (WaitDurable): a call that only needs its own
	// changes durable must not take them, or the Close after it returns
	// nil for writes that were lost.
	KeepAsync bool
	// Name, if set, names an op without a Done channel in its failure
	// (noteAsyncErr): whatever failed it, its own Apply or its group's
	// commit, the caller of Flush or OnAsyncError learns which
	// acknowledged write was lost. Formatted only on failure.
	Name fmt.Stringer
	// OnQueue, if set, runs just before the op is queued, in queue order:
	// what it does is ordered like the commits. An error from it is Send's:
	// the op is not queued, so an Async caller hears of it at the call
	// (what OnQueue could not do, such as drawing the op's id, must not
	// be acknowledged and fail later).
	OnQueue func() error
	// Bytes is the memory the op holds until its group is committed (its
	// encoded records): Send waits while the ops sent and not yet through
	// their group's commit hold Options.MaxPendingBytes.
	Bytes int64
	// held is what Send took of the bound for it (pendingBytes).
	held int64
	// claim settles an op with Done between its caller and the commit
	// loop (Await): the loop runs a write or a solo op, or takes the
	// async failures for a barrier, only if its caller has not left (its
	// ctx ended first), so that nothing is written, and no failure taken,
	// for nobody; once the loop took it, the caller waits for the outcome.
	claim atomic.Int32
}

// Op.claim's states.
const (
	claimWaiting = iota // the caller waits for the outcome
	claimTaken          // the commit loop runs it (or delivers a barrier's outcome)
	claimLeft           // the caller left: nobody reads Done, the op must not run
)

// take claims op for the commit loop before it runs: false if its caller
// left (Await), and the op must then not run. An op without Done (Async)
// has no caller to leave; an op taken before (a group retried op by op)
// stays taken. An op that writes nothing (NoWrite) is never claimed: it
// runs whether or not its caller is still there.
func (op *Op) take() bool {
	return op.Done == nil || op.NoWrite || op.claim.CompareAndSwap(claimWaiting, claimTaken) || op.claim.Load() == claimTaken
}

// Send queues op for the commit loop. The caller must not Send after
// Close; it waits for op.Done itself.
func (e *Engine) Send(ctx context.Context, op *Op) (err error) {
	// Room for its bytes first, outside queueMu: a writer waiting for
	// room holds up no other's OnQueue.
	if op.held, err = e.pending.take(ctx, op.Bytes); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			e.pending.give(op.held)
		}
	}()
	if op.OnQueue != nil {
		e.queueMu.Lock()
		defer e.queueMu.Unlock()
		// Check again under the lock: the caller may have waited for it.
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := op.OnQueue(); err != nil {
			return err
		}
	}
	if e.hooks.BeforeSend != nil {
		e.hooks.BeforeSend()
	}
	select {
	case e.queue <- op:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the commit loop. It ends when the queue is closed and drained.
func (e *Engine) run() {
	defer close(e.loopDone)
	// A fault on a damaged page of the mapped file panics (caught by
	// safeApply) instead of killing the process.
	debug.SetPanicOnFault(true)
	group := make([]*Op, 0, MaxGroup)
	var pruned <-chan struct{} // the applier says bbolt holds more
	var synced chan struct{}   // the syncer made the log durable
	if e.Logging() {
		pruned, synced = e.wal.ap.Pruned(), e.wal.sync.done
	}
	for {
		if synced != nil && e.wal.og.f != nil {
			// A group is open, waiting for the fsync in flight: if it
			// ended, the group is logged and the next fsync started before
			// more ops are taken (they join the next group, as they would
			// have joined the next fsync).
			select {
			case <-synced:
				e.synced(e.wal.sync.result())
				continue
			default:
			}
			// Nothing to wait for any more (a rewind of the log made
			// everything durable): no report need come.
			e.trySeal()
		}
		var op *Op
		select {
		case next, ok := <-e.queue:
			if !ok {
				if e.Logging() {
					_ = e.drainFlights() // a failure went to the flights' callers
				}
				return
			}
			op = next
		case <-pruned:
			e.pruneApplied()
			continue
		case <-synced:
			e.synced(e.wal.sync.result())
			continue
		}
		for op != nil {
			if op.Solo != nil {
				e.runSolo(op)
				break
			}
			group = append(group[:0], op)
			op = nil
		gather:
			for len(group) < MaxGroup {
				select {
				case next, ok := <-e.queue:
					if !ok {
						break gather
					}
					if next.Solo != nil {
						op = next // after this group
						break gather
					}
					group = append(group, next)
				default:
					break gather
				}
			}
			e.commitOps(group, true)
			// Its records are in the log and the overlay (or bbolt) now,
			// bounded there (MaxUnapplied): room for the ops waiting.
			var held int64
			for _, op := range group {
				held += op.held
			}
			e.pending.give(held) // one wake-up for the group's waiters
		}
	}
}

// runSolo runs a solo op; every op queued before it is committed, and
// applied to bbolt.
func (e *Engine) runSolo(op *Op) {
	err := op.Ctx.Err()
	if err == nil && op.Settle {
		// Not taken: it writes nothing, so its caller may leave when its
		// ctx ends while the flights drain (a stalled disk); Done has
		// room for the outcome nobody may read.
		if e.Logging() {
			err = e.drainFlights()
		}
		op.Done <- err
		return
	}
	if err == nil && !op.take() {
		err = op.Ctx.Err() // its caller left: its ctx ended
	}
	if err == nil {
		err = e.fs.Failed()
	}
	if err == nil && e.Logging() {
		err = e.drainFlights()
		if err == nil {
			// A flight whose fsync failed while it was waited for failed
			// the store: the op runs on no failed store (a Compact would
			// rename a new file into place, an ApplyLog vouch with nil).
			err = e.fs.Failed()
		}
		if err == nil {
			err = e.applyAll()
		}
	}
	if err == nil {
		err = op.Solo()
	}
	op.Done <- err
}

// ack delivers outcomes in queue order. A barrier (Flush) fsyncs whatever
// NoSync commits left unsynced and reports the async failures before it.
func (e *Engine) ack(ops []*Op, errs []error) {
	for i, op := range ops {
		switch {
		case op.Apply == nil:
			err := errs[i]
			switch {
			case err != nil:
			case e.wal != nil:
				// Its group waited for the log to be durable.
			case e.unsynced:
				if err = e.db.Sync(); err == nil {
					e.unsynced = false
				} else {
					err = e.persistFailed(FailBolt, fmt.Errorf("ckpt: fsync: %w", err))
				}
			}
			if op.claim.CompareAndSwap(claimWaiting, claimTaken) && !op.KeepAsync {
				err = errors.Join(err, e.TakeAsyncErr())
			}
			op.Done <- err
		case op.Done == nil:
			if errs[i] != nil {
				e.noteAsyncErr(op.Name, errs[i])
			}
		default:
			op.Done <- errs[i]
		}
	}
}

// MaxAsyncErrs bounds the failures of ops without a Done channel kept
// for the next TakeAsyncErr, and those queued for OnAsyncError while it
// runs (callbacks.go): the first MaxAsyncErrs are kept whole, the rest are
// counted and the last of them kept (MoreAsyncErrs). A service that hears
// of failures through OnAsyncError and never flushes would otherwise keep
// one error per failed write for the life of the store (some 300 bytes
// each: TestFailedAsyncWritesKeepBoundedMemory).
const MaxAsyncErrs = 64

// noteAsyncErr keeps err, the failure of the op name names (if not nil),
// for the next TakeAsyncErr and queues it for OnAsyncError; it never
// waits for the callback.
func (e *Engine) noteAsyncErr(name fmt.Stringer, err error) {
	if name != nil {
		err = fmt.Errorf("%s: %w", name, err)
	}
	err = fmt.Errorf("ckpt: async write failed: %w", err)
	e.asyncMu.Lock()
	e.asyncErrs.add(err)
	e.asyncMu.Unlock()
	if e.cb != nil {
		e.cb.note(err)
	}
}

// TakeAsyncErr returns (and forgets) the failures of ops without a Done
// channel since the last call: the first MaxAsyncErrs, and past them
// one error that counts the others and wraps the last of them.
func (e *Engine) TakeAsyncErr() error {
	e.asyncMu.Lock()
	defer e.asyncMu.Unlock()
	return errors.Join(e.asyncErrs.take()...)
}

// safeApply turns a panic in an op into its error, so one bad op cannot
// take the commit loop (and every other writer) down. A panic a damaged
// page raised is ErrCorrupt, as a read's (opPanic).
func safeApply(apply func(w Writer) error, w Writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = opPanic(r, inBolt())
			if v, ok := w.(*BoltView); ok {
				v.SetWrote(true) // its changes are unknown: roll back
			}
		}
	}()
	return apply(w)
}
