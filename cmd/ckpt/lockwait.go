package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ckpt-go/ckpt"
)

// lockSlice is how long one attempt waits for a held file. bbolt's wait
// for the lock polls it and takes no context, so a wait of --lock-timeout
// in one piece ignored Ctrl-C until it ran out (ten minutes with
// --lock-timeout 10m); in slices, a signal ends it within one.
const lockSlice = 100 * time.Millisecond

// whileHeld runs try, which takes path's lock waiting at most the timeout
// it is given, again until it gets the lock or fails otherwise, or
// --lock-timeout runs out (then its ErrLocked is the command's error), or
// Ctrl-C or SIGTERM arrives. A wait longer than the default is announced
// once on stderr: a command that asked to wait, silent meanwhile, looks
// hung.
func (a *app) whileHeld(path string, try func(timeout time.Duration) error) error {
	deadline := time.Now().Add(a.lockTimeout)
	told := false
	for {
		wait := min(time.Until(deadline), lockSlice)
		if wait <= 0 {
			wait = time.Millisecond // a zero LockTimeout means the library's default
		}
		start := time.Now()
		err := try(wait)
		if f, ok := errors.AsType[finalError](err); ok {
			return f.err
		}
		if !errors.Is(err, ckpt.ErrLocked) || !time.Now().Before(deadline) {
			return err
		}
		if !told && a.lockTimeout > time.Second {
			fmt.Fprintf(a.errw, "ckpt: %s is held by another process: waiting for it up to %v (--lock-timeout); Ctrl-C stops\n", path, a.lockTimeout)
			told = true
		}
		// An ErrLocked that came at once (another import building the
		// file) is waited out here, not polled in a busy loop.
		timer := time.NewTimer(wait - time.Since(start))
		select {
		case <-a.ctx.Done():
			timer.Stop()
			return interruptedError{fmt.Sprintf("interrupted while waiting for %s, which another process holds; nothing was changed", path)}
		case <-timer.C:
		}
	}
}

// finalError is an error of whileHeld's try that another try must not
// follow: err is the command's.
type finalError struct{ err error }

func (e finalError) Error() string { return e.err.Error() }

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
