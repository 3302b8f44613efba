package engine

// OnAsyncError's calls, off the commit loop. The loop only queues a
// failure (errTally, bounded) and starts a goroutine to deliver the queue
// if none runs; that goroutine calls the callback one failure at a time,
// in the order they were noted, and ends when the queue is empty. So the
// loop never waits for the callback, and the callback may call anything
// the store offers (a Sync write, Flush, Close), which waits for the loop.
// A callback that blocks holds up only the calls after it: what fails
// meanwhile waits in the queue, the first MaxAsyncErrs whole and the rest
// counted in one error that wraps the last.

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
)

// errTally keeps failures for one reader, bounded: the first MaxAsyncErrs
// whole, past them a count and the last (MoreAsyncErrs).
type errTally struct {
	errs []error
	more int
	last error
}

func (t *errTally) add(err error) {
	if len(t.errs) < MaxAsyncErrs {
		t.errs = append(t.errs, err)
		return
	}
	t.more++
	t.last = err
}

// take returns (and forgets) what the tally holds, in order: the whole
// ones, then (if any were counted) one MoreAsyncErrs.
func (t *errTally) take() []error {
	errs := t.errs
	if t.more > 0 {
		errs = append(errs, &MoreAsyncErrs{N: t.more, Last: t.last})
	}
	*t = errTally{}
	return errs
}

// MoreAsyncErrs stands for N failed async writes that were not kept one
// by one (past MaxAsyncErrs): it wraps the last of them.
type MoreAsyncErrs struct {
	N    int
	Last error
}

func (e *MoreAsyncErrs) Error() string {
	return fmt.Sprintf("ckpt: %d more async writes failed (not kept; the last: %v)", e.N, e.Last)
}

func (e *MoreAsyncErrs) Unwrap() error { return e.Last }

// failures is how many failed writes err stands for.
func failures(err error) uint64 {
	if m, ok := err.(*MoreAsyncErrs); ok {
		return uint64(m.N)
	}
	return 1
}

// callbacks delivers failures to OnAsyncError.
type callbacks struct {
	fn func(error)

	mu      sync.Mutex
	queue   errTally
	noted   uint64        // failures queued, ever
	heard   uint64        // of those, the ones whose call returned
	running bool          // a deliver goroutine runs
	g       uint64        // its goroutine's id, once it has one (GoID)
	closed  bool          // Close: no deliver goroutine starts
	stopped bool          // Close from inside fn: deliver stops after the call
	changed chan struct{} // closed (and replaced) when heard or running change
}

func newCallbacks(fn func(error)) *callbacks {
	if fn == nil {
		return nil
	}
	return &callbacks{fn: fn, changed: make(chan struct{})}
}

// wake tells the waiters that heard or running changed; under mu.
func (c *callbacks) wake() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// note queues err for fn (the commit loop): it never waits for fn.
func (c *callbacks) note(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queue.add(err)
	c.noted++
	if !c.running && !c.closed {
		c.running = true
		go c.deliver()
	}
}

// deliver calls fn with what is queued, one at a time, in order, until
// the queue is empty (or Close from inside fn stops it).
func (c *callbacks) deliver() {
	g := GoID()
	c.mu.Lock()
	c.g = g
	for !c.stopped {
		errs := c.queue.take()
		if len(errs) == 0 {
			break
		}
		for _, err := range errs {
			c.mu.Unlock()
			c.fn(err)
			c.mu.Lock()
			c.heard += failures(err)
			c.wake()
			if c.stopped {
				break
			}
		}
	}
	c.running, c.g = false, 0
	c.wake()
	c.mu.Unlock()
}

// inside tells whether the caller is fn's own goroutine, in a call of
// fn; under mu.
func (c *callbacks) inside() bool {
	return c.running && c.g != 0 && GoID() == c.g
}

// await waits until fn has heard of every failure noted so far. It does
// not wait when called from inside fn (it would wait for itself), nor
// once Close stopped the calls; it returns ctx.Err() if ctx ends first.
func (c *callbacks) await(ctx context.Context) error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	upto := c.noted
	if c.inside() {
		c.mu.Unlock()
		return nil
	}
	for c.heard < upto && c.running && !c.stopped {
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.mu.Unlock()
	return nil
}

// close ends the calls; the commit loop has ended (nothing more is
// noted). Called from inside fn, it stops them after this call (the
// failures not heard of yet are not); from elsewhere it waits until fn
// has heard of every failure. No call starts after it returns.
func (c *callbacks) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.inside() {
		c.stopped = true
		c.wake()
		return
	}
	for c.running {
		ch := c.changed
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
}

// GoID returns the id of the calling goroutine, from the first line of
// its stack trace ("goroutine 18 [running]:"). Go offers no other way to
// tell a call from inside the callback (which must not wait for itself)
// from one of another goroutine (which must); it is read only when a
// Flush or Close meets a callback in progress, and once per run of
// deliver. The root package's sweeper tells a Close from inside OnSweep (which must
// not wait for the sweeper) the same way.
func GoID() uint64 {
	var buf [64]byte
	b := bytes.TrimPrefix(buf[:runtime.Stack(buf[:], false)], []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}
