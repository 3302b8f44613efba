package engine

// The calls that wait for the commit loop: a flush barrier and a solo
// operation. Writes go through Send with an Op of their own (its Apply,
// durability and queue hook); these two need nothing but a context.

import "context"

// Flush is Barrier, then AwaitCallbacks: it also returns once
// OnAsyncError has heard of the failures it returns.
func (e *Engine) Flush(ctx context.Context) error {
	err := e.Barrier(ctx)
	if werr := e.AwaitCallbacks(ctx); err == nil {
		err = werr
	}
	return err
}

// Barrier waits until every op queued before it is committed and durable
// (what NoSync commits left unsynced is fsync'd), and returns the
// failures of async ops (no Done channel) not yet taken, with its own.
//
// Unlike a write, a Barrier returns ctx.Err() when ctx ends while it
// waits: it writes nothing, so leaving it is safe, and the async failures
// it would have reported stay for the next Flush or Close. A Barrier
// behind a commit loop that does not get on (a stalled disk) then ends
// with its ctx instead of never.
func (e *Engine) Barrier(ctx context.Context) error {
	return e.call(ctx, &Op{Ctx: ctx, Done: make(chan error, 1)})
}

// WaitDurable is Barrier without the async failures: it waits until every
// op queued before it is committed and durable and returns only its own
// failure, leaving theirs for the next Flush or Close (Op.KeepAsync).
func (e *Engine) WaitDurable(ctx context.Context) error {
	return e.call(ctx, &Op{Ctx: ctx, Done: make(chan error, 1), KeepAsync: true})
}

// Await waits for the outcome of op, sent with a Done channel. If ctx ends
// before the commit loop took op, the caller leaves: Await returns
// ctx.Err() and the loop never runs op (Op.take), so the error still means
// nothing was written; a write queued behind a loop that does not get on
// (a long Compact, a full group) ends with its ctx, as a Flush does. A
// write the loop took into the group it builds while the log's fsync is
// in flight waits for that fsync (a stalled disk), as its group does.
// Once the loop took op, Await waits for its outcome whatever ctx says.
func (e *Engine) Await(ctx context.Context, op *Op) error {
	select {
	case err := <-op.Done:
		return err
	case <-ctx.Done():
		if op.claim.CompareAndSwap(claimWaiting, claimLeft) {
			return ctx.Err()
		}
		// The commit loop took it first: its outcome (and, for a
		// barrier, the async failures it took) is on the way.
		return <-op.Done
	}
}

// AwaitCallbacks waits until OnAsyncError has heard of every failure
// noted so far (those a Barrier that returned took among them): at once
// without OnAsyncError, or when called from inside it (it would wait for
// itself); ctx.Err() if ctx ends first. Call it holding nothing the
// callback may wait for.
func (e *Engine) AwaitCallbacks(ctx context.Context) error {
	return e.cb.await(ctx)
}

// InCallback tells whether the caller is inside a call of OnAsyncError
// (its goroutine, during the call): a Close under way waits for that call
// to return, so the callback must not wait for that Close.
func (e *Engine) InCallback() bool {
	c := e.cb
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inside()
}

// Solo runs fn alone in the commit loop (Op.Solo): after every op queued
// before it is committed and applied to bbolt, before any op queued after
// it. A store that failed (fail-stop) or a ctx that ended before its turn
// does not run fn: Solo then returns at once (Await); once fn runs, it
// waits for its outcome even if ctx ends.
func (e *Engine) Solo(ctx context.Context, fn func() error) error {
	if fn == nil {
		fn = func() error { return nil }
	}
	return e.call(ctx, &Op{Ctx: ctx, Solo: fn, Done: make(chan error, 1)})
}

// Settle waits until every group taken before it is settled: durable and
// in the snapshots of reads begun after it returns, or failed (its ops
// told so). Unlike a write or Solo it runs on a failed store too, where a
// group whose fsync was in flight when the store failed may still become
// durable; unlike Barrier it takes no async failures.
func (e *Engine) Settle(ctx context.Context) error {
	return e.call(ctx, &Op{Ctx: ctx, Solo: func() error { return nil }, Settle: true, Done: make(chan error, 1)})
}

// call queues op and waits for its outcome (Await).
func (e *Engine) call(ctx context.Context, op *Op) error {
	if err := e.Send(ctx, op); err != nil {
		return err
	}
	return e.Await(ctx, op)
}
