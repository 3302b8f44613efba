package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
)

// uiIdleClose is how long ui keeps the file open after the last page was
// built. bbolt lets one process hold the file, so a service (or its
// supervisor's restart after a crash) that opens it while ui holds it
// waits its Options.LockTimeout and fails with ErrLocked: ui must let go
// while no one looks. Half a second is less than half of LockTimeout's
// default (1 s), so such a service gets the file within its wait unless a
// page is being built; and it is longer than the requests one page makes
// back to back (a large value loaded in place after its checkpoint page),
// which share one Open. A person reading pages clicks less often, so most
// clicks reopen the file: a read-only Open of a 176 MB store of 100,000
// checkpoints took 68-125 ms (web.lentLiveInterval says where), a cost a
// click can take where a poll a second could not.
const uiIdleClose = 500 * time.Millisecond

// uiLender lends ui's pages the store (web.Lender): it opens the file
// when a page needs it and closes it once no page has been built for
// uiIdleClose and none is being built.
type uiLender struct {
	open  func() (*ckpt.Store, error) // app.openRead of the file: its errors are the CLI's
	errw  io.Writer                   // where a failed close is said
	idle  time.Duration
	mu    sync.Mutex
	st    *ckpt.Store // nil: closed
	lent  int         // borrows not yet returned
	until time.Time   // the file stays open at least until then (the last page's end + idle)
	timer *time.Timer // closes the file at until; nil when none is set
	done  bool        // shut: no more borrows
}

// newUILender lends st, which the command opened to check the file,
// and closes it if no page is asked for within idle.
func newUILender(st *ckpt.Store, open func() (*ckpt.Store, error), errw io.Writer, idle time.Duration) *uiLender {
	l := &uiLender{open: open, errw: errw, idle: idle, st: st}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.until = time.Now().Add(idle)
	l.arm()
	return l
}

// errUIClosed answers a borrow after ui stopped serving.
var errUIClosed = errors.New("ckpt ui is stopping")

func (l *uiLender) Borrow(ctx context.Context) (*ckpt.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return nil, errUIClosed
	}
	if l.st == nil {
		// Under the lock: the pages that arrive meanwhile wait for this
		// Open rather than make their own.
		st, err := l.open()
		if err != nil {
			return nil, err
		}
		l.st = st
	}
	l.lent++
	return l.st, nil
}

func (l *uiLender) Return(poll bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lent--
	if !poll {
		l.until = time.Now().Add(l.idle)
	}
	if l.lent == 0 {
		l.arm()
	}
}

// arm closes the file now if its time is up, else sets the timer for
// then. l.mu is held.
func (l *uiLender) arm() {
	if l.st == nil || l.done {
		return
	}
	wait := time.Until(l.until)
	if wait <= 0 {
		l.closeStore()
		return
	}
	if l.timer == nil {
		l.timer = time.AfterFunc(wait, l.expire)
	} else {
		l.timer.Reset(wait)
	}
}

// expire is the timer's: the file is closed if no page holds it and none
// was built since the timer was set.
func (l *uiLender) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lent == 0 {
		l.arm()
	}
}

// closeStore closes the file. l.mu is held. A read-only store's Close has
// nothing of the command's to lose: an error is said and ui goes on (the
// next page opens the file again).
func (l *uiLender) closeStore() {
	if l.timer != nil {
		l.timer.Stop()
	}
	st := l.st
	l.st = nil
	if err := st.Close(); err != nil {
		fmt.Fprintln(l.errw, "ckpt ui: warning: closing "+st.Path()+": "+strings.TrimPrefix(oneLine(err), "ckpt: "))
	}
}

// shut ends the lending once the server stopped (no page is built) and
// returns the open store, if any, for the command to close.
func (l *uiLender) shut() *ckpt.Store {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	if l.timer != nil {
		l.timer.Stop()
	}
	st := l.st
	l.st = nil
	return st
}
