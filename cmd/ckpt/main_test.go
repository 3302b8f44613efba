package main

// These tests build the ckpt binary once and run it as a user would, in
// temporary directories, checking exit statuses, stdout and stderr.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

var binPath string

// Environment of the helper process that holds a store open (see hold).
const (
	holdEnv     = "CKPT_TEST_HOLD"
	holdModeEnv = "CKPT_TEST_HOLD_MODE"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(holdEnv); path != "" {
		os.Exit(hold(path, os.Getenv(holdModeEnv) == "ro"))
	}
	if path := os.Getenv(writeEnv); path != "" {
		os.Exit(liveWrite(path, os.Getenv(writeModeEnv)))
	}
	// Unless -test.parallel is given, twice GOMAXPROCS (at least 4) of
	// the parallel tests run at once: many of them mostly wait, on a
	// child (a holder, a killed import, a lock timeout running out) or on
	// a sleep before a kill, and two at a time left a core of two idle
	// for a quarter of the package's run (121 s of wall for 178 s of CPU).
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(max(4, 2*runtime.GOMAXPROCS(0)))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	dir, err := os.MkdirTemp("", "ckpt-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "ckpt")
	// Without cgo: a static binary starts with a fifth less CPU than one
	// the dynamic loader links (fewer page faults; 15-20 ms against 24 ms
	// a run on the 2-core CI VM), and the tests run it some 2,000 times.
	// The only cgo in it is net's resolver, which none of them reaches.
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building ckpt: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	if fixtureDir != "" {
		_ = os.RemoveAll(fixtureDir)
	}
	if bigDir != "" {
		_ = os.RemoveAll(bigDir)
	}
	if spec14Fix.dir != "" {
		_ = os.RemoveAll(spec14Fix.dir)
	}
	os.Exit(code)
}

// hold opens the store at path, says "held" on stdout and keeps it open
// until stdin closes: a running program that holds the file.
func hold(path string, readOnly bool) int {
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: readOnly})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("held")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.Close()
	return 0
}

// envRounds is how many rounds a randomized test runs: def, or the
// number in the environment variable name (a longer hunt than CI's).
func envRounds(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// result is what one run of the binary did.
type result struct {
	args           []string
	stdout, stderr string
	code           int
	killed         bool // ended by SIGKILL
}

func (r result) String() string {
	return fmt.Sprintf("ckpt %s: exit %d killed=%v\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.killed, r.stdout, r.stderr)
}

// runIn runs the binary in dir with stdin.
func runIn(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	return runCmd(t, exec.Command(binPath, args...), dir, stdin, args)
}

// runWithin is runIn for a command that must not hang: it is killed, and
// the test fails saying so, if it has not ended within limit (a bound on
// a hang, far above what the command takes, not a measure of its speed).
func runWithin(t *testing.T, limit time.Duration, dir, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	r := runCmd(t, exec.CommandContext(ctx, binPath, args...), dir, stdin, args)
	if ctx.Err() != nil {
		t.Fatalf("ckpt %v had not ended after %v: it hangs", args, limit)
	}
	return r
}

func runCmd(t *testing.T, cmd *exec.Cmd, dir, stdin string, args []string) result {
	t.Helper()
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.killed = true
		}
	case err != nil:
		t.Fatalf("running ckpt %v: %v", args, err)
	}
	return r
}

// ok runs a command that must succeed with nothing on stderr.
func ok(t *testing.T, dir string, args ...string) result {
	t.Helper()
	r := runIn(t, dir, "", args...)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("want success:\n%s", r)
	}
	return r
}

// failsWith checks a failed run: the given exit status, exactly one line
// on stderr starting "ckpt: " and containing want, and no Go stack trace.
func failsWith(t *testing.T, r result, code int, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	switch {
	case r.code != code:
		t.Fatalf("want exit %d:\n%s", code, r)
	case len(lines) != 1 || !strings.HasPrefix(lines[0], "ckpt: ") || !strings.HasSuffix(r.stderr, "\n"):
		t.Fatalf("want one line on stderr:\n%s", r)
	case !strings.Contains(r.stderr, want):
		t.Fatalf("want stderr to contain %q:\n%s", want, r)
	case strings.Contains(r.stderr+r.stdout, "goroutine ") || strings.Contains(r.stderr, "panic"):
		t.Fatalf("stack trace or panic in output:\n%s", r)
	}
}

func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("stdout is not the JSON expected (%v):\n%s", err, r)
	}
	return v
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// demoFixture returns a copy, in a new temporary directory, of a store on
// which the demo ran to the end once (built on first use).
func demoFixture(t *testing.T) (dir, db string) {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "ckpt-cli-fixture-")
		if fixtureErr != nil {
			return
		}
		r := runIn(t, fixtureDir, "", "demo")
		if r.code != 0 {
			fixtureErr = fmt.Errorf("demo failed:\n%s", r)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	dir = t.TempDir()
	db = filepath.Join(dir, "demo.db")
	copyFile(t, filepath.Join(fixtureDir, "demo.db"), db)
	return dir, db
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startHolder starts a process that holds db open (read-only or for
// writing) and returns once it does; the process ends with the test.
func startHolder(t *testing.T, db string, readOnly bool) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	cmd.Env = append(os.Environ(), holdEnv+"="+db, holdModeEnv+"="+mode)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("holder did not start: %q, %v", line, err)
	}
}
