package main

import (
	"context"
	"fmt"
	"os"
	"time"
)

// stopped turns the error of a command that a signal cancelled into the
// one line it prints (left: what state the file was left in) and exit
// status 130; any other error passes through.
func stopped(ctx context.Context, err error, left string) error {
	if err != nil && ctx.Err() != nil {
		return interruptedError{"interrupted: " + left}
	}
	return err
}

// pauseEnv makes a long command stop at its first progress report, say
// "ckpt: working" on stderr and wait (at most a minute) for a signal. The
// tests use it to interrupt a command that is provably in the middle of its
// work, whatever the speed of the machine.
const pauseEnv = "CKPT_TEST_PAUSE_AT_PROGRESS"

// pauseAtProgress is the progress hook pauseEnv switches on (nil when off).
func (a *app) pauseAtProgress() func() {
	if os.Getenv(pauseEnv) == "" {
		return nil
	}
	return func() {
		fmt.Fprintln(a.errw, "ckpt: working")
		select {
		case <-a.ctx.Done():
		case <-time.After(time.Minute):
		}
	}
}
