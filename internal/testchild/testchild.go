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
//
// On a cold build cache that build compiles the standard library without
// -race and takes about a minute. The tests that run children are
// parallel tests, which start only after every sequential test has run; a
// build started by the first of them kept both of go test's parallel slots
// waiting (the README's cold run). Start begins it when the test binary
// starts, so it overlaps with the sequential tests instead.
package testchild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
)

var (
	once    sync.Once
	started atomic.Bool           // build is running or has run
	done    = make(chan struct{}) // closed when build has returned
	path    string                // the children's executable, set before done closes
	dir     string                // the directory build made ("" when it built none)
)

// command is the build; a test replaces it.
var command = func(out string) *exec.Cmd {
	// go test puts its own GOROOT/bin first on a test binary's PATH, so
	// "go" is the toolchain that built this binary.
	return exec.Command("go", "test", "-c", "-race=false", "-o", out, ".")
}

// needsBuild reports whether the children need an executable of their own.
func needsBuild() bool {
	return raceEnabled && os.Getenv("CKPT_CHILD_RACE") == ""
}

// begin starts build in its own goroutine, once.
func begin() {
	once.Do(func() {
		started.Store(true)
		go build()
	})
}

// Start begins building the children's executable in the background when
// the children need one, and returns at once; Binary waits for it. A
// TestMain calls it before m.Run when the whole package runs (a -run
// that picks a few tests may need no child at all).
func Start() {
	if needsBuild() {
		begin()
	}
}

// Binary returns the executable a child process of the running test binary
// runs: the binary itself, or, when it was built with -race, the tests of
// the package in the working directory (go test runs a test binary in its
// package's directory) built without -race. If that build fails, the
// children run the race binary and a line on stderr says why.
func Binary() string {
	if !needsBuild() {
		return os.Args[0]
	}
	begin()
	<-done
	return path
}

func build() {
	defer close(done)
	path = os.Args[0]
	d, err := os.MkdirTemp("", "ckpt-child-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testchild: children run the race binary:", err)
		return
	}
	out := filepath.Join(d, "child.test")
	cmd := command(out)
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "testchild: children run the race binary: go test -c: %v\n%s", err, b)
		_ = os.RemoveAll(d)
		return
	}
	dir, path = d, out
}

// Cleanup removes what Binary built. A TestMain calls it after m.Run. A
// build Start began is waited for, so its directory is not left behind.
func Cleanup() {
	if !started.Load() {
		return
	}
	<-done
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
}
