//go:build unix

package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A command given a --lock-timeout longer than the default on a file a
// program holds says on stderr that it waits, and Ctrl-C stops the wait:
// exit status 130, a line saying nothing was changed, the file as it was.
// Before, the wait (bbolt's, which polls the lock and knows no context)
// said nothing, and Ctrl-C was obeyed only once --lock-timeout had run
// out: with --lock-timeout 10m, as here, an operator's Ctrl-C took ten
// minutes.
func TestH165CtrlCStopsTheWaitForAHeldFile(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	dump := filepath.Join(dir, "dump.jsonl")
	ok(t, dir, "export", db, "-o", dump)
	ids := stepIDs(t, dir, db)
	startHolder(t, db, false)
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	cmds := append(readCommands(db, ids),
		[]string{"ui", db}, []string{"gc", db, "--keep-last", "1"}, []string{"compact", db},
		[]string{"rm", db, "demo", "--yes"}, []string{"cp", db, "demo", "copy"},
		[]string{"import", db, dump}, []string{"recover", db}, []string{"demo", "--db", db})
	for _, args := range cmds {
		r := interruptWait(t, dir, append(args, "--lock-timeout", "10m")...)
		failsWith(t, r, exitInterrupted, "ckpt: interrupted while waiting for "+db+", which another process holds; nothing was changed\n")
		after, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatalf("ckpt %v changed %s", args, db)
		}
		if names := dirNames(t, dir); len(names) != 3 { // demo.db, its -wal, dump.jsonl
			t.Fatalf("ckpt %v left files: %v", args, names)
		}
	}
}

// TestH165LongLockWaitEndsWithTheHeldError: the note that a command waits
// is not its error; when the wait runs out the error is the usual one
// line, after the note.
func TestH165LongLockWaitEndsWithTheHeldError(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	startHolder(t, db, false)
	r := runIn(t, dir, "", "threads", db, "--lock-timeout", "1500ms")
	note, rest, _ := strings.Cut(r.stderr, "\n")
	if note != waitNote(db, "1.5s") {
		t.Fatalf("want the note %q first:\n%s", waitNote(db, "1.5s"), r)
	}
	r.stderr = rest
	failsWith(t, r, 1, db+" is held by another process (a program has the store open); stop that program or wait for it to close the store, then retry (gave up after 1.5s")
}

func waitNote(db, timeout string) string {
	return "ckpt: " + db + " is held by another process: waiting for it up to " + timeout + " (--lock-timeout); Ctrl-C stops"
}

// interruptWait runs the binary in dir with args, waits until it says it
// waits for the file's lock, sends SIGINT, and returns how it ended (the
// note taken out of stderr).
func interruptWait(t *testing.T, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Only a failure detector: a command that waits out --lock-timeout
	// (10m) before it says anything, or after Ctrl-C, ends here.
	var detected atomic.Bool
	detector := time.AfterFunc(time.Minute, func() {
		detected.Store(true)
		_ = cmd.Process.Kill()
	})
	defer detector.Stop()
	br := bufio.NewReader(errPipe)
	line, err := br.ReadString('\n')
	if want := waitNote(fileArgOf(args), "10m0s") + "\n"; err != nil || line != want {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("ckpt %s: want the note %q first, got %q, %v (killed after a minute: %v)", strings.Join(args, " "), want, line, err, detected.Load())
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br)
	werr := cmd.Wait()
	if detected.Load() {
		t.Fatalf("ckpt %s did not stop on Ctrl-C (killed after a minute)", strings.Join(args, " "))
	}
	r := result{args: args, stdout: out.String(), stderr: string(rest)}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		r.code = ee.ExitCode()
	} else if werr != nil {
		t.Fatal(werr)
	}
	return r
}

// fileArgOf is the store file of a command line: demo's --db, or the first
// argument after the command.
func fileArgOf(args []string) string {
	for i, a := range args {
		if a == "--db" {
			return args[i+1]
		}
	}
	return args[1]
}
