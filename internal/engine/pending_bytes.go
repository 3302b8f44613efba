package engine

import (
	"context"
	"sync"
)

// DefaultMaxPendingBytes bounds the bytes of the ops queued for the commit
// loop, and of the group it builds of them, when Options.MaxPendingBytes
// is zero: enough for a queue of typical checkpoints (a few KB to a few
// hundred), while 1,024 queued Async writes of 10 MB (the count bound
// alone) held 10 GB.
const DefaultMaxPendingBytes = 64 << 20

// pendingBytes bounds the bytes (Op.Bytes) of the ops between their Send
// and the end of their group's commit (commitOps): a Send waits for room,
// as it waits for a place in the queue. An op larger than the bound alone
// waits until nothing else is held, and then goes through, alone.
type pendingBytes struct {
	mu   sync.Mutex
	held int64
	max  int64
	room chan struct{} // closed (and replaced) when bytes are given back
	full func()        // Hooks.PendingFull
}

func newPendingBytes(max int64, full func()) *pendingBytes {
	if max <= 0 {
		max = DefaultMaxPendingBytes
	}
	return &pendingBytes{max: max, room: make(chan struct{}), full: full}
}

// take waits until n bytes (at most the bound) fit, or ctx ends (its
// error), and returns the bytes taken, which give gives back.
func (p *pendingBytes) take(ctx context.Context, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	n = min(n, p.max)
	told := false
	for {
		p.mu.Lock()
		if p.held+n <= p.max {
			p.held += n
			p.mu.Unlock()
			return n, nil
		}
		room := p.room
		p.mu.Unlock()
		if !told && p.full != nil {
			told = true
			p.full()
		}
		select {
		case <-room:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// give gives back n bytes taken.
func (p *pendingBytes) give(n int64) {
	if n <= 0 {
		return
	}
	p.mu.Lock()
	p.held -= n
	close(p.room)
	p.room = make(chan struct{})
	p.mu.Unlock()
}

// PendingBytes is the bytes of the ops sent and not yet through their group's
// commit.
func (e *Engine) PendingBytes() int64 {
	e.pending.mu.Lock()
	defer e.pending.mu.Unlock()
	return e.pending.held
}
