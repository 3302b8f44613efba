package main

import (
	"bytes"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer the test reads while the child writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// `ckpt rm FILE THREAD` on a terminal asks y/N, holding FILE open for
// writing meanwhile. Ctrl-C (or SIGTERM) at that question did nothing:
// the command catches both signals to stop its work cleanly, but the
// question went on waiting for a line, so the only ways out were to
// answer or to kill -9 it, and the program whose store it is could not
// open it meanwhile. Interrupted there, it must end (status 130) and
// delete nothing.
func TestRmQuestionStopsOnSignal(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		dir, db := demoFixture(t)
		_, tty := openPTY(t)
		cmd := exec.Command(binPath, "rm", db, "demo")
		cmd.Dir = dir
		cmd.Stdin = tty
		var out, errb lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait for the question.
		for deadline := time.Now().Add(30 * time.Second); !strings.Contains(errb.String(), "[y/N]"); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("no question asked: %s", errb.String())
			}
		}
		_ = cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%v at the y/N question: still waiting 10 s later (stderr %q)", sig, errb.String())
		}
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if code != 130 || !strings.Contains(errb.String(), "nothing deleted") {
			t.Errorf("%v at the question: exit %d, stderr %q; want 130 and nothing deleted", sig, code, errb.String())
		}
		ok(t, dir, "show", db, "demo", "--channel", "question")
	}
}
