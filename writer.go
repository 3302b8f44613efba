package ckpt

// Writes: every write of the store is an op queued to the engine's commit
// loop (internal/engine/loop.go), which groups what is queued, makes each
// group durable and acknowledges each caller. This file holds the public
// durability options and how the store queues its ops.

import (
	"context"
	"errors"
	"fmt"

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
	// reports failures. The queue is bounded (Options.MaxPending writes,
	// Options.MaxPendingBytes of their records): when full, writers wait.
	// Reads do not wait for it: until its group is logged (normally within
	// one fsync) a read, even by the goroutine that wrote, may not see it
	// (a GetTuple can return the previous head, a deleted thread can still
	// be there). Keep the head you wrote, as graph runners do, or Flush
	// before reading it back.
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

// known reports whether d is one of the constants above: any other value
// is ErrInvalidConfig (it would have written as Sync, a typo unseen).
func (d Durability) known() bool { return d >= DurabilityDefault && d <= NoSync }

// WriteOptions change how one call writes. Attach them to the call's
// context with WithWriteOptions; they work through the Saver interface.
type WriteOptions struct {
	// Durability overrides Options.Durability for this call (a value
	// other than the constants above fails the call with ErrInvalidConfig,
	// nothing written).
	Durability Durability
	// IfHead makes Put and Save a compare-and-set on the thread head: the
	// parent (cfg.CheckpointID for Put, Parent for Save) must still be the
	// newest checkpoint of the thread and namespace, otherwise the call
	// fails with ErrConflict and writes nothing. An empty parent requires
	// the namespace to hold no checkpoint yet. A Put sent again with
	// its checkpoint already stored (the same given cp.ID, record and
	// metadata: a retry after a lost reply) succeeds, wherever the head
	// is now, on every store: the put was applied. The record holds
	// cp.TS, and a zero TS is the time of each call: a retry must give
	// the TS it gave before (LangGraph's checkpoints carry theirs), or it
	// is another record under a stored id.
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

// enqueue hands op to the commit loop and, unless it is Async (no Done),
// waits for its outcome. If ctx ends before the loop took the op, the call
// returns ctx.Err() and the op never runs; once taken, the call waits for
// the outcome even if ctx ends (engine.Await): an error always means
// nothing was written.
func (s *Store) enqueue(ctx context.Context, op *engine.Op) error {
	return s.writing(ctx, func() error {
		if err := s.eng.Send(ctx, op); err != nil {
			return err
		}
		if op.Done == nil {
			return nil
		}
		return s.eng.Await(ctx, op)
	})
}

// writing runs call, which hands the commit loop something to do, unless
// ctx ended or the store is closed, read-only or failed. The store stays
// open until call returns.
func (s *Store) writing(ctx context.Context, call func() error) error {
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
	if err := s.eng.Failed(); err != nil {
		return err
	}
	return call()
}

// idle is the answer of a call that found nothing to do: what the call
// would have met with something to do (ctx's end, ErrClosed after Close;
// for a write also ErrReadOnly on a read-only handle and the failure of a
// failed store), so that a harmless call tells the truth about the
// handle, as Close's and Options.ReadOnly's docs promise of every call
// (h205_noop_writes_test.go).
func (s *Store) idle(ctx context.Context, write bool) error {
	if write {
		return s.writing(ctx, func() error { return nil })
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// write queues apply with the durability the context asks for.
func (s *Store) write(ctx context.Context, apply func(w writer) error) error {
	return s.writeOrdered(ctx, 0, nil, apply, nil)
}

// writeSized is write for an apply that holds size bytes of records until
// it is committed (engine.Op.Bytes: Options.MaxPendingBytes bounds them).
func (s *Store) writeSized(ctx context.Context, size int, apply func(w writer) error) error {
	return s.writeOrdered(ctx, size, nil, apply, nil)
}

// writeName names a write in the error of an Async one: that error
// reaches the caller through Flush, Close or OnAsyncError, after the call
// returned, and says which acknowledged write was lost. A value, so a
// Sync write allocates nothing for it; id points at the checkpoint id,
// which an onQueue hook may set.
type writeName struct {
	kind           string // "put", "save"; "" for a task's pending writes
	thread, ns     string
	id             *[idLen]byte
	task           string
	withNamespaces bool // the namespace is part of the name (Put, PutFull)
}

func (n writeName) String() string {
	switch {
	case n.kind == "":
		return fmt.Sprintf("pending writes of task %q", n.task)
	case n.withNamespaces:
		return fmt.Sprintf("%s of checkpoint %s in thread %q namespace %q", n.kind, idString(*n.id), n.thread, n.ns)
	}
	return fmt.Sprintf("%s of checkpoint %s in thread %q", n.kind, idString(*n.id), n.thread)
}

// writeOrdered is writeSized with an onQueue hook (engine.Op.OnQueue):
// what it does is ordered like the commits, and its error is the call's,
// nothing queued (also for an Async write). what, if not nil, names the
// write (after onQueue ran) in its error when it is Async (engine.Op.Name).
func (s *Store) writeOrdered(ctx context.Context, size int, what *writeName, apply func(w writer) error, onQueue func() error) error {
	dur := writeOptionsFrom(ctx).Durability
	if !dur.known() {
		return fmt.Errorf("%w: WriteOptions.Durability %d is none of Sync, Async, NoSync (nothing written)", ErrInvalidConfig, int(dur))
	}
	if dur == DurabilityDefault {
		dur = s.durability
	}
	op := &engine.Op{Ctx: ctx, Apply: apply, NoSync: dur == NoSync, OnQueue: onQueue, Bytes: int64(size)}
	if dur == Async {
		// Named at the failure, whichever it is: its Apply's or its
		// group's (a failed fsync or commit, a full disk).
		if what != nil {
			op.Name = *what
		}
		// An acknowledged async write must not be dropped because its
		// caller's context ends later.
		op.Ctx = context.WithoutCancel(ctx)
		s.asyncQueued.Store(true)
	} else {
		op.Done = make(chan error, 1)
	}
	return s.enqueue(ctx, op)
}

// seeQueued waits until every write queued before it is logged, and so
// in the snapshot of any read begun after it returns: an Async write
// returns once queued, and what plans on a snapshot before it writes
// (retention: Prune, DeleteForRuns, GC) would miss the writes its own
// caller queued just before (TestH118RetentionAfterAsyncWrites), as would
// an Export, a dump of the store as of the call (a Backup is queued
// after them). A NoSync op with no changes, after them in the queue,
// acknowledged once they are readable; nothing at all on a store that
// never took an Async write. Unlike Flush, it leaves the failures of
// Async writes to the next Flush.
func (s *Store) seeQueued(ctx context.Context) error {
	if !s.asyncQueued.Load() || s.readOnly {
		return nil
	}
	// NoWrite: its caller may leave when ctx ends even once the loop took
	// it into the group it builds while the log's fsync is in flight (a
	// stalled disk): it writes nothing.
	op := &engine.Op{Ctx: ctx, Apply: func(writer) error { return nil }, NoSync: true, NoWrite: true, Done: make(chan error, 1)}
	err := s.enqueue(ctx, op)
	switch {
	case errors.Is(err, ErrFailed):
		// A failed store takes no more writes, but a group it took before
		// it failed may still become durable and readable (its fsync was
		// in flight): wait for those (TestH150ExportOnFailedStoreWaitsForQueuedWrites),
		// so that an Export rescuing the data holds every write
		// acknowledged before it that is durable. A DryRun still reads
		// what is durable, and a write says ErrFailed itself.
		return s.settle(ctx)
	case errors.Is(err, ErrDiskFull):
		// This op failed with the group it shared with a queued write
		// that found no room (a record or a NoWAL commit): that write
		// failed, for the next Flush to report, and every one before it
		// is settled all the same. A reader (Export) must not fail for
		// it; a call that writes meets the full disk itself.
		return nil
	}
	return err
}

// settle waits for the groups the engine took before it (engine.Settle),
// also on a failed store.
func (s *Store) settle(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.eng.Settle(ctx)
}

// Flush waits until every write queued before it is committed and fsync'd,
// and returns the errors of async writes that failed since the last Flush:
// the first 64 whole and, past them, one that counts the others and wraps
// the last of them (errors.Is finds its sentinel). The error of a failed
// Put, PutFull or Save names the checkpoint id the call returned, that of
// a PutWrites its task. It returns once OnAsyncError has heard of them
// (at once when called from inside OnAsyncError, which it would wait
// for). If ctx ends first, Flush returns ctx.Err() (it writes nothing, so
// nothing is undone) and those errors stay for the next Flush or Close: a
// Flush behind a stalled disk ends with its ctx. If ctx ends while only
// OnAsyncError is waited for, Flush returns the errors it took (ctx.Err()
// if none), the callback still to hear of them. On a store opened
// read-only, which queues no write, Flush is ErrReadOnly. On a failed
// store (ErrFailed) Flush returns at once, waiting for nothing: an Async
// write's failure the commit loop had not noted yet is then not among
// its errors, and comes from Close (and OnAsyncError) instead.
func (s *Store) Flush(ctx context.Context) error {
	// The wait for OnAsyncError holds no lock: the callback may Close.
	err := s.writing(ctx, func() error { return s.eng.Barrier(ctx) })
	if werr := s.eng.AwaitCallbacks(ctx); err == nil {
		err = werr
	}
	return err
}

// ApplyLog moves every write acknowledged before it from the write-ahead
// log into the store file, fsync'd there, as Compact and Close do first.
// Tools that read or copy the file itself (its size, a file-level backup)
// call it first. With NoWAL there is nothing to apply: ApplyLog is then
// Flush, and returns (and clears) the errors of the async writes that
// failed since the last Flush, which Close then no longer reports. On a
// read-only store it is ErrReadOnly, as Flush is: such a handle writes
// nothing, so a log a killed writer left stays out of the file (its reads
// see it; the file itself does not hold it).
func (s *Store) ApplyLog(ctx context.Context) error {
	if !s.eng.Logging() {
		return s.Flush(ctx)
	}
	// A solo op drains the groups in flight and applies everything first.
	return s.writing(ctx, func() error { return s.eng.Solo(ctx, nil) })
}
