// Package testchild gives the multi-process tests the executable their
// child processes run.
//
// The kill, damage and lock tests start copies of their own test binary as
// children and then kill them, hand them a damaged file or make them wait
// for a lock; what they check happens in the parent, on the files the
// children leave. Under -race every child pays the race detector too:
// three to four times the CPU of a plain build (TestDamagedFileNeverPanics
// took 30.7 CPU seconds with race children, 8.8 without), and those
// children were most of what the README's cold test run spent in the core
// package. So a race-built test binary runs its children from the same
// package's tests built without -race. The races of the code the children
// run are looked for where a detector can report them: the in-process
// tests of the same operations (imports, compaction, writers, damaged
// files), which still run under -race. CKPT_CHILD_RACE=1 keeps the race
// detector in the children too.
package testchild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	once sync.Once
	path string // the children's executable
	dir  string // the directory Binary built it in ("" when it built none)
)

// Binary returns the executable a child process of the running test binary
// runs: the binary itself, or, when it was built with -race, the tests of
// the package in the working directory (go test runs a test binary in its
// package's directory) built without -race. If that build fails, the
// children run the race binary and a line on stderr says why.
func Binary() string {
	if !raceEnabled || os.Getenv("CKPT_CHILD_RACE") != "" {
		return os.Args[0]
	}
	once.Do(build)
	return path
}

func build() {
	path = os.Args[0]
	d, err := os.MkdirTemp("", "ckpt-child-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testchild: children run the race binary:", err)
		return
	}
	out := filepath.Join(d, "child.test")
	// go test puts its own GOROOT/bin first on a test binary's PATH, so
	// "go" is the toolchain that built this binary.
	cmd := exec.Command("go", "test", "-c", "-race=false", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "testchild: children run the race binary: go test -c: %v\n%s", err, b)
		_ = os.RemoveAll(d)
		return
	}
	dir, path = d, out
}

// Cleanup removes what Binary built. A TestMain calls it after m.Run.
func Cleanup() {
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}

// KillSelf ends the calling process at once, as kill -9 would: no deferred
// call, no exit handler, no buffered write runs (os.Process.Kill is
// SIGKILL on unix and TerminateProcess on Windows). It does not return.
func KillSelf() {
	if self, err := os.FindProcess(os.Getpid()); err == nil {
		_ = self.Kill()
	}
	select {} // the kill comes
}
