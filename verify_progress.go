package ckpt

// Verify's Progress, called outside Verify's read. Verify reads in a bbolt
// read transaction (with the log) or in the commit loop's transaction
// (NoWAL). A callback called there that writes, or waits for a write,
// hangs the store: with NoWAL the write waits for the commit loop, which
// runs Verify, which waits for the callback; with the log, a commit that
// must grow bbolt's memory map (the commit loop's own apply past
// engine.MaxUnapplied, a session's first write binding the log) waits for
// every read transaction, Verify's among them (h216_callback_hang_test.go).
// So Verify only notes the count, and a goroutine of its own calls the
// callback, one call at a time; Verify waits for it once its read is over.

import "sync"

// progressPump calls fn, on a goroutine of its own, with the latest count
// noted: counts noted while a call runs are coalesced into the next call.
type progressPump struct {
	fn    func(int)
	mu    sync.Mutex
	count int           // the latest count noted
	wake  chan struct{} // a count to deliver (buffered: one is enough)
	stop  chan struct{} // closed by finish: deliver the last count, end
	done  chan struct{} // closed when the goroutine ends
	panic any           // what a call of fn panicked with, for finish
}

// startProgress starts the pump of fn; nil for a nil fn (note and finish
// then do nothing).
func startProgress(fn func(int)) *progressPump {
	if fn == nil {
		return nil
	}
	p := &progressPump{fn: fn, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

// note records n as the latest count and wakes the goroutine; it never
// waits for the callback.
func (p *progressPump) note(n int) {
	p.mu.Lock()
	p.count = n
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default: // a wake is pending: it delivers this count too
	}
}

// run delivers the counts until finish, then the last one. A panic of fn
// ends the deliveries and is kept for finish to raise on Verify's caller's
// goroutine, as a callback called there would have (not the process's end
// on a goroutine no one can recover on).
func (p *progressPump) run() {
	defer close(p.done)
	defer func() { p.panic = recover() }()
	sent := 0 // counts start at 1: a Verify of no thread calls nothing
	deliver := func() {
		p.mu.Lock()
		n := p.count
		p.mu.Unlock()
		if n != sent {
			sent = n
			p.fn(n)
		}
	}
	for {
		select {
		case <-p.wake:
			deliver()
		case <-p.stop:
			deliver()
			return
		}
	}
}

// finish delivers the last count noted, if not yet, waits until the
// callback has returned (none runs after it), and re-raises its panic.
// Called once Verify's read is over: the callback may then write.
func (p *progressPump) finish() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.done
	if p.panic != nil {
		panic(p.panic)
	}
}

// noter is the Progress Verify's checks call: note, or nil without a
// callback.
func (p *progressPump) noter() func(int) {
	if p == nil {
		return nil
	}
	return p.note
}
