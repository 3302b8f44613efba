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
	"strings"
	"sync"
)

var (
	once sync.Once
	path string // the children's executable
	dir  string // the directory Binary built it in ("" when it built none)

	// started is the build Prebuild started (nil if none): build waits
	// for it instead of starting another.
	started *exec.Cmd
	out     string // its executable
	log     string // its output, a file in dir
)

// Prebuild starts Binary's build at once, as a process of its own, when
// the running binary was built with -race and runs the whole package (no
// -test.run, as CI's test command): the build (a plain compile of the
// package's tests, over a minute of a loaded 2-core machine) then
// overlaps the tests that come before the first child, which used to wait
// for it. It starts no goroutine and keeps no descriptor open but the
// process's own, so tests that count the process's goroutines or
// descriptors see none of it appear. A run of a few tests (-run) builds
// only if one of them starts a child. A TestMain calls it before m.Run;
// Binary waits for the build it started, and Cleanup too.
func Prebuild() {
	if !raceEnabled || os.Getenv("CKPT_CHILD_RACE") != "" {
		return
	}
	for _, a := range os.Args[1:] {
		if (strings.HasPrefix(a, "-test.run=") && a != "-test.run=") || strings.HasPrefix(a, "-test.list=") {
			return
		}
	}
	d, err := os.MkdirTemp("", "ckpt-child-")
	if err != nil {
		return // Binary tries again, and says why if it fails
	}
	f, err := os.Create(filepath.Join(d, "build.log"))
	if err != nil {
		_ = os.RemoveAll(d)
		return
	}
	defer f.Close() // the build has its own copy
	cmd := buildCmd(filepath.Join(d, "child.test"))
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(d)
		return
	}
	dir, started, out, log = d, cmd, filepath.Join(d, "child.test"), f.Name()
}

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

// buildCmd is the build of the children's executable into out.
func buildCmd(out string) *exec.Cmd {
	// go test puts its own GOROOT/bin first on a test binary's PATH, so
	// "go" is the toolchain that built this binary.
	return exec.Command("go", "test", "-c", "-race=false", "-o", out, ".")
}

func build() {
	path = os.Args[0]
	if started != nil {
		if err := started.Wait(); err != nil {
			b, _ := os.ReadFile(log)
			fmt.Fprintf(os.Stderr, "testchild: children run the race binary: go test -c: %v\n%s", err, b)
			return
		}
		path = out
		return
	}
	d, err := os.MkdirTemp("", "ckpt-child-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testchild: children run the race binary:", err)
		return
	}
	o := filepath.Join(d, "child.test")
	if b, err := buildCmd(o).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "testchild: children run the race binary: go test -c: %v\n%s", err, b)
		_ = os.RemoveAll(d)
		return
	}
	dir, path = d, o
}

// Cleanup removes what Binary built. A TestMain calls it after m.Run.
// A build Prebuild started and no test waited for ends first.
func Cleanup() {
	if started != nil {
		once.Do(build)
	}
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
