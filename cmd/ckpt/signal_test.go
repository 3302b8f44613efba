package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

var (
	bigOnce sync.Once
	bigDir  string
	bigErr  error
)

// Size of the large store: enough keys and threads that compact, gc,
// export and import each report progress (and so can be interrupted) well
// before their end. GC reports after each batch of up to 1,000 threads.
const (
	bigThreads     = 1100
	bigCheckpoints = 6
)

// bigFixture returns a copy, in a new temporary directory, of a large store
// and the path of a dump of it (built on first use).
func bigFixture(t *testing.T) (dir, db, dump string) {
	t.Helper()
	bigOnce.Do(func() {
		bigDir, bigErr = os.MkdirTemp("", "ckpt-cli-big-")
		if bigErr == nil {
			bigErr = buildBig(filepath.Join(bigDir, "big.db"))
		}
		if bigErr == nil {
			r := runIn(t, bigDir, "", "export", "big.db", "-o", "big.jsonl")
			if r.code != 0 {
				bigErr = fmt.Errorf("export of the large store failed:\n%s", r)
			}
		}
	})
	if bigErr != nil {
		t.Fatal(bigErr)
	}
	dir = t.TempDir()
	db = filepath.Join(dir, "big.db")
	copyFile(t, filepath.Join(bigDir, "big.db"), db)
	return dir, db, filepath.Join(bigDir, "big.jsonl")
}

func buildBig(path string) error {
	ctx := context.Background()
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.Async})
	if err != nil {
		return err
	}
	pad := strings.Repeat("x", 200)
	for th := range bigThreads {
		var msgs []string
		for i := range bigCheckpoints {
			msgs = append(msgs, fmt.Sprintf("message %d %s", i, pad))
			state := map[string]any{"messages": msgs, "step": i, "note": fmt.Sprintf("note %d of thread %d", i, th)}
			if _, err := s.Save(ctx, fmt.Sprintf("thread-%04d", th), state, ckpt.Metadata{"step": i, "node": "n"}); err != nil {
				_ = s.Close()
				return err
			}
		}
	}
	return s.Close()
}

// interrupt runs the binary in dir with args, waits until it reports that
// it is in the middle of its work (pauseEnv), sends sig, and returns how it
// ended.
func interrupt(t *testing.T, dir string, sig os.Signal, args ...string) result {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), pauseEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	br := bufio.NewReader(errPipe)
	line, err := br.ReadString('\n')
	errb.WriteString(line)
	if err != nil || line != "ckpt: working\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("ckpt %s did not start working: %q, %v", strings.Join(args, " "), line, err)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br)
	errb.Write(rest)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-waited:
	case <-time.After(time.Minute): // only a failure detector
		_ = cmd.Process.Kill()
		t.Fatalf("ckpt %s did not stop after %v", strings.Join(args, " "), sig)
	}
	r := result{args: args, stdout: out.String(), stderr: strings.TrimPrefix(errb.String(), "ckpt: working\n")}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		r.code = ee.ExitCode()
	} else if werr != nil {
		t.Fatal(werr)
	}
	return r
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestInterrupted: SIGINT (or SIGTERM) in the middle of a long command
// stops it with one line on stderr and exit status 130, removes what it
// created and leaves the store file as it was (a GC: consistent, every
// thread still there), with nothing else left in the directory.
func TestInterrupted(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sig  os.Signal
		args func(db, dump string) []string
		// same: the file must export to exactly what it did before.
		same bool
		want string
	}{
		{"compact", os.Interrupt, func(db, _ string) []string { return []string{"compact", db} }, true, "big.db.compact removed"},
		{"compact on SIGTERM", syscall.SIGTERM, func(db, _ string) []string { return []string{"compact", db} }, true, "big.db.compact removed"},
		{"gc", os.Interrupt, func(db, _ string) []string { return []string{"gc", db, "--keep-last", "1"} }, false, "is consistent"},
		{"export to a file", os.Interrupt, func(db, _ string) []string { return []string{"export", db, "-o", "out.jsonl"} }, true, "partial out.jsonl removed"},
		{"import", os.Interrupt, func(_, dump string) []string { return []string{"import", "demo.db", dump} }, true, "threads imported so far were removed"},
		{"import into a new file", os.Interrupt, func(_, dump string) []string { return []string{"import", "new.db", dump} }, true, "new.db (created by this import) removed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, db, dump := bigFixture(t)
			args := c.args(db, dump)
			if args[0] == "import" {
				// Import into the small demo store: its threads must be
				// the same afterwards.
				_, demo := demoFixture(t)
				copyFile(t, demo, filepath.Join(dir, "demo.db"))
				db = filepath.Join(dir, "demo.db")
			}
			before := ok(t, dir, "export", db).stdout
			heads := threadHeads(t, dir, db)
			names := dirNames(t, dir)
			r := interrupt(t, dir, c.sig, args...)
			failsWith(t, r, exitInterrupted, c.want)
			if got := dirNames(t, dir); !slices.Equal(got, names) {
				t.Fatalf("files in the directory: %v before, %v after\n%s", names, got, r)
			}
			ok(t, dir, "verify", db)
			if c.same {
				if after := ok(t, dir, "export", db).stdout; after != before {
					t.Fatalf("%s changed the file", c.name)
				}
				return
			}
			// An interrupted GC keeps what it did, but every thread and
			// its newest checkpoint are still there.
			if got := threadHeads(t, dir, db); !slices.Equal(heads, got) {
				t.Fatalf("threads and their heads: %v before, %v after", heads, got)
			}
			if after := ok(t, dir, "export", db).stdout; after == before {
				t.Fatalf("the interrupted gc deleted nothing: it was not interrupted in the middle")
			}
		})
	}
}

// threadHeads returns "thread newest-id" for every thread of db.
func threadHeads(t *testing.T, dir, db string) []string {
	t.Helper()
	var heads []string
	for _, row := range decodeJSON[[]map[string]any](t, ok(t, dir, "threads", db, "--json")) {
		heads = append(heads, fmt.Sprint(row["thread"], " ", row["newest_id"]))
	}
	return heads
}
