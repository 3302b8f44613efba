package ckpt

// The commit loop: every write of the store is an op queued to one
// goroutine, which takes everything queued, applies it in one bbolt
// transaction, commits and then acknowledges each caller. A lone writer
// commits at once (no timer: bbolt's own Batch waits up to 10 ms for company
// and gave 82 commits/s to a single writer here); while a commit is in
// flight new ops gather for the next one, so many writers share one fsync.

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/saverkit"
)

// Durability says when a write is acknowledged.
type Durability int

const (
	// DurabilityDefault uses the store's Options.Durability (in Options
	// itself it means Sync).
	DurabilityDefault Durability = iota
	// Sync acknowledges a write after it is committed and fsync'd: it
	// survives a process crash and a power cut.
	Sync
	// Async acknowledges a write once it is queued. It is committed (with
	// fsync) shortly after; Flush waits for everything queued before it and
	// reports failures. The queue is bounded (Options.MaxPending): when full,
	// writers wait.
	Async
	// NoSync acknowledges a write after it is committed to the operating
	// system without fsync: it survives a process crash, not a power cut.
	NoSync
)

func (d Durability) String() string {
	switch d {
	case Sync:
		return "sync"
	case Async:
		return "async"
	case NoSync:
		return "nosync"
	default:
		return "default"
	}
}

// WriteOptions change how one call writes. Attach them to the call's
// context with WithWriteOptions; they work through the Saver interface.
type WriteOptions struct {
	// Durability overrides Options.Durability for this call.
	Durability Durability
	// IfHead makes Put and Save a compare-and-set on the thread head: the
	// parent (cfg.CheckpointID for Put, Parent for Save) must still be the
	// newest checkpoint of the thread and namespace, otherwise the call
	// fails with ErrConflict and writes nothing. An empty parent requires
	// the namespace to hold no checkpoint yet.
	IfHead bool
	// Parent is the checkpoint a Save's state was derived from: the new
	// checkpoint's parent ("" : the thread's newest). Naming an older
	// checkpoint forks the thread there. With IfHead it must still be the
	// newest.
	Parent string
}

// WithWriteOptions returns a context that carries opts to the write calls
// made with it. Saver implementations read them with
// saverkit.WriteOptionsFrom[WriteOptions].
func WithWriteOptions(ctx context.Context, opts WriteOptions) context.Context {
	return saverkit.WithWriteOptions(ctx, opts)
}

// writeOptionsFrom returns the WriteOptions attached to ctx (zero if none).
func writeOptionsFrom(ctx context.Context) WriteOptions {
	return saverkit.WriteOptionsFrom[WriteOptions](ctx)
}

// maxGroup bounds the ops applied in one transaction, so one commit stays
// short even under a flood of writes.
const maxGroup = 1024

// writeOp is one queued write. apply must check everything that can fail
// before it changes anything: an op that fails before its first change fails
// alone, its group commits without it.
type writeOp struct {
	ctx   context.Context
	apply func(w writer) error // nil: a flush barrier (or solo)
	// solo, if set, runs alone in the commit loop, outside any transaction,
	// after every op queued before it is committed and before any op queued
	// after it (Compact: writers wait in the queue meanwhile).
	solo func() error
	dur  Durability
	done chan error // nil for Async: acknowledged when queued
	// onQueue, if set, runs just before the op is queued, in queue order
	// (under Store.queueMu): what it does is ordered like the commits.
	onQueue func()
}

// enqueue hands op to the commit loop and, unless it is Async, waits for its
// outcome. Once queued, a call waits for the outcome even if ctx is
// cancelled, so an error always means nothing was written.
func (s *Store) enqueue(ctx context.Context, op *writeOp) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.readOnly {
		return ErrReadOnly
	}
	if err := s.fs.Failed(); err != nil {
		return err
	}
	if err := s.send(ctx, op); err != nil {
		return err
	}
	if op.done == nil {
		return nil
	}
	return <-op.done
}

func (s *Store) send(ctx context.Context, op *writeOp) error {
	if op.onQueue != nil {
		s.queueMu.Lock()
		defer s.queueMu.Unlock()
		// Check again under the lock: the caller may have waited for it.
		if err := ctx.Err(); err != nil {
			return err
		}
		op.onQueue()
	}
	if s.tune.beforeSend != nil {
		s.tune.beforeSend()
	}
	select {
	case s.queue <- op:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write queues apply with the durability the context asks for.
func (s *Store) write(ctx context.Context, apply func(w writer) error) error {
	return s.writeOrdered(ctx, apply, nil)
}

// writeOrdered is write with an onQueue hook (see writeOp).
func (s *Store) writeOrdered(ctx context.Context, apply func(w writer) error, onQueue func()) error {
	dur := writeOptionsFrom(ctx).Durability
	if dur == DurabilityDefault {
		dur = s.durability
	}
	op := &writeOp{ctx: ctx, apply: apply, dur: dur, onQueue: onQueue}
	if dur == Async {
		// An acknowledged async write must not be dropped because its
		// caller's context ends later.
		op.ctx = context.WithoutCancel(ctx)
	} else {
		op.done = make(chan error, 1)
	}
	return s.enqueue(ctx, op)
}

// Flush waits until every write queued before it is committed and fsync'd,
// and returns the errors of async writes that failed since the last Flush.
func (s *Store) Flush(ctx context.Context) error {
	return s.enqueue(ctx, &writeOp{ctx: ctx, dur: Sync, done: make(chan error, 1)})
}

// run is the commit loop. It ends when the queue is closed and drained.
func (s *Store) run() {
	defer close(s.loopDone)
	// A fault on a damaged page of the mapped file panics (caught by
	// safeApply) instead of killing the process.
	debug.SetPanicOnFault(true)
	group := make([]*writeOp, 0, maxGroup)
	var pruned <-chan struct{} // the applier says bbolt holds more
	var synced chan syncResult // the syncer made the log durable
	if s.logging() {
		pruned, synced = s.wal.ap.Pruned(), s.wal.syncRes
	}
	for {
		var op *writeOp
		select {
		case next, ok := <-s.queue:
			if !ok {
				if s.logging() {
					_ = s.drainFlights() // a failure went to the flights' callers
				}
				return
			}
			op = next
		case <-pruned:
			s.pruneApplied()
			continue
		case res := <-synced:
			s.synced(res)
			continue
		}
		for op != nil {
			if op.solo != nil {
				s.runSolo(op)
				break
			}
			group = append(group[:0], op)
			op = nil
		gather:
			for len(group) < maxGroup {
				select {
				case next, ok := <-s.queue:
					if !ok {
						break gather
					}
					if next.solo != nil {
						op = next // after this group
						break gather
					}
					group = append(group, next)
				default:
					break gather
				}
			}
			s.commitGroup(group)
		}
	}
}

// runSolo runs a solo op; every op queued before it is committed, and
// applied to bbolt.
func (s *Store) runSolo(op *writeOp) {
	err := op.ctx.Err()
	if err == nil {
		err = s.fs.Failed()
	}
	if err == nil && s.logging() {
		if err = s.drainFlights(); err == nil {
			err = s.applyAll()
		}
	}
	if err == nil {
		err = op.solo()
	}
	op.done <- err
}

// commitGroup applies ops in one transaction and acknowledges them. Once
// the store has failed (internal/engine/failstop.go), it fails them all: both commit paths
// follow the same rule.
func (s *Store) commitGroup(ops []*writeOp) {
	errs := make([]error, len(ops))
	if err := s.fs.Failed(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		s.ack(ops, errs)
		return
	}
	if s.logging() {
		s.commitGroupWAL(ops)
		return
	}
	wrote, needSync := false, false
	hasWork := false
	for _, op := range ops {
		hasWork = hasWork || op.apply != nil
	}
	var txErr error
	if hasWork {
		tx, err := s.fs.BeginWrite(s.db)
		if err != nil {
			txErr = fmt.Errorf("ckpt: begin transaction: %w", err)
		} else {
			tx.DB().AllocSize = engine.GrowStep(tx.Size()) // as the applier does
			view := engine.NewBoltView(tx)
			for i, op := range ops {
				if op.apply == nil {
					continue
				}
				if err := op.ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				view.SetWrote(false)
				err := safeApply(op.apply, view)
				if err != nil && view.Wrote() {
					// The op failed half-way: the transaction holds part of
					// it. Roll back and apply each op on its own, so only
					// the failing one fails.
					_ = tx.Rollback()
					if len(ops) == 1 {
						s.ack(ops, []error{err})
						return
					}
					for _, op := range ops {
						s.commitGroup([]*writeOp{op})
					}
					return
				}
				errs[i] = err
				if err == nil && view.Wrote() {
					wrote = true
					needSync = needSync || op.dur != NoSync
				}
			}
			if !wrote {
				_ = tx.Rollback()
			} else {
				// Only this goroutine commits, so toggling NoSync per
				// transaction is safe.
				s.db.NoSync = !needSync
				if err := s.fs.GuardWrite("commit", tx, func() error { return s.commitBoltTimed(tx) }); err != nil {
					// What bbolt wrote before the failure is unknown:
					// stop writing (internal/engine/failstop.go).
					txErr = s.fs.Fail(engine.FailBolt, fmt.Errorf("ckpt: commit: %w", err))
				} else {
					s.commits.Add(1)
					s.obs.group(len(ops), 0, 0)
					// An fsync'd commit also makes earlier NoSync commits
					// durable: fdatasync covers the whole file.
					s.unsynced = !needSync
				}
			}
		}
	}
	if txErr != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = txErr
			}
		}
	}
	s.ack(ops, errs)
}

// ack delivers outcomes in queue order. A barrier (Flush) fsyncs whatever
// NoSync commits left unsynced and reports the async failures before it.
func (s *Store) ack(ops []*writeOp, errs []error) {
	for i, op := range ops {
		switch {
		case op.apply == nil:
			err := errs[i]
			switch {
			case err != nil:
			case s.wal != nil:
				// Its group waited for the log to be durable.
			case s.unsynced:
				if err = s.db.Sync(); err == nil {
					s.unsynced = false
				} else {
					err = s.fs.Fail(engine.FailBolt, fmt.Errorf("ckpt: fsync: %w", err))
				}
			}
			op.done <- errors.Join(err, s.takeAsyncErr())
		case op.done == nil:
			if errs[i] != nil {
				s.noteAsyncErr(errs[i])
			}
		default:
			op.done <- errs[i]
		}
	}
}

func (s *Store) noteAsyncErr(err error) {
	err = fmt.Errorf("ckpt: async write failed: %w", err)
	s.asyncMu.Lock()
	s.asyncErrs = append(s.asyncErrs, err)
	s.asyncMu.Unlock()
	if s.onAsyncError != nil {
		s.onAsyncError(err)
	}
}

func (s *Store) takeAsyncErr() error {
	s.asyncMu.Lock()
	defer s.asyncMu.Unlock()
	err := errors.Join(s.asyncErrs...)
	s.asyncErrs = nil
	return err
}

// safeApply turns a panic in an op into its error, so one bad op cannot
// take the commit loop (and every other writer) down.
func safeApply(apply func(w writer) error, w writer) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ckpt: write panicked: %v", r)
			if v, ok := w.(*engine.BoltView); ok {
				v.SetWrote(true) // its changes are unknown: roll back
			}
		}
	}()
	return apply(w)
}

// asyncState is embedded in Store.
type asyncState struct {
	queueMu      sync.Mutex // orders onQueue hooks with queue sends
	asyncMu      sync.Mutex
	asyncErrs    []error
	onAsyncError func(error)
	unsynced     bool // a NoSync commit is not yet fsync'd; only the loop touches it
	commits      atomic.Int64
}
