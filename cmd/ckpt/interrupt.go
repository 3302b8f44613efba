package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
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

// withLeft is stopped for every error: a command whose failure leaves the
// files in a state it can name says so whatever ended it, a full disk or
// a file size limit as much as Ctrl-C. Without it a failed import said
// only "file too large", and whether anything of it stayed was a guess.
func withLeft(ctx context.Context, err error, left string) error {
	if err == nil || ctx.Err() != nil {
		return stopped(ctx, err, left)
	}
	return fmt.Errorf("%w; %s", err, left)
}

// pauseEnv makes a long command stop at its first progress report, say
// "ckpt: working" on stderr and wait (at most a minute) for a signal: one
// that stops it, or one of resumeSignals, which lets it go on. The
// tests use it to interrupt a command that is provably in the middle of its
// work, whatever the speed of the machine.
const pauseEnv = "CKPT_TEST_PAUSE_AT_PROGRESS"

// pauseAtProgress is the progress hook pauseEnv switches on (nil when off).
func (a *app) pauseAtProgress() func() {
	if os.Getenv(pauseEnv) == "" {
		return nil
	}
	return func() {
		resume := make(chan os.Signal, 1)
		if len(resumeSignals) > 0 { // Notify with none would catch every signal
			signal.Notify(resume, resumeSignals...)
			defer signal.Stop(resume)
		}
		fmt.Fprintln(a.errw, "ckpt: working")
		select {
		case <-a.ctx.Done():
		case <-resume:
		case <-time.After(time.Minute):
		}
	}
}
