//go:build unix

package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// liveWriter is a process writing a store as a running service does
// (liveWrite); acks are the writes it acknowledged so far, by thread.
type liveWriter struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	acks  map[string][]string
	errs  []string
	ended chan struct{} // stdout read to its end
}

func startLiveWriter(t *testing.T, db, mode string) *liveWriter {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	w := &liveWriter{cmd: exec.Command(exe), acks: map[string][]string{}, ended: make(chan struct{})}
	w.cmd.Env = append(os.Environ(), writeEnv+"="+db, writeModeEnv+"="+mode)
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.cmd.Stderr = os.Stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.stdin.Close()
		_ = w.cmd.Wait()
	})
	br := bufio.NewReader(stdout)
	if line, err := br.ReadString('\n'); err != nil || line != "held\n" {
		t.Fatalf("the writer did not start: %q, %v", line, err)
	}
	go func() {
		defer close(w.ended)
		sc := bufio.NewScanner(br)
		for sc.Scan() {
			w.mu.Lock()
			switch f := strings.Fields(sc.Text()); {
			case len(f) == 3 && f[0] == "ack":
				w.acks[f[1]] = append(w.acks[f[1]], f[2])
			case len(f) > 0 && f[0] == "closed":
			default:
				w.errs = append(w.errs, sc.Text())
			}
			w.mu.Unlock()
		}
	}()
	return w
}

// count is how many writes w acknowledged so far.
func (w *liveWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ids := range w.acks {
		n += len(ids)
	}
	return n
}

// waitFor waits until w acknowledged more than n writes; only a failure
// detector bounds the wait.
func (w *liveWriter) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for w.count() <= n {
		if time.Now().After(deadline) {
			t.Fatalf("the writer acknowledged no write past %d in a minute (errors: %q)", n, w.errs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop closes w's stdin and waits for it to close the store.
func (w *liveWriter) stop(t *testing.T) {
	t.Helper()
	_ = w.stdin.Close()
	select {
	case <-w.ended:
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		t.Fatal("the writer did not close the store within a minute of being told to")
	}
	if err := w.cmd.Wait(); err != nil || len(w.errs) > 0 {
		t.Fatalf("the writer: %v, %q", err, w.errs)
	}
}

// stopAndReopen stops the service, checks the file with ckpt verify and
// opens it read-only for the test to read what the service acknowledged.
func (w *liveWriter) stopAndReopen(t *testing.T, dir, db string) *ckpt.Store {
	t.Helper()
	w.stop(t)
	if v := runIn(t, dir, "", "verify", db); v.code != 0 || !strings.Contains(v.stdout, "checked 4 threads") {
		t.Fatalf("verify after the service closed the store:\n%s", v)
	}
	s, err := ckpt.Open(db, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// An operator runs the read commands on the file of a running service,
// one writing with Sync writers, one with Async. The file is the
// service's alone (bbolt's lock): every command says so, in one line,
// within --lock-timeout, shows nothing of the store (so no checkpoint the
// service has not acknowledged), leaves no file behind and does not
// change the file (nor any beside it); the service's writes go on
// meanwhile, and once it closes the store every write it acknowledged is
// there and the file verifies, read by the same commands.
func TestH243ReadCommandsOnALiveStore(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db := filepath.Join(dir, "live.db")
			w := startLiveWriter(t, db, mode)
			w.waitFor(t, 0)
			for _, args := range [][]string{
				{"threads", db}, {"show", db, "w0"}, {"log", db, "w1"}, {"verify", db}, {"stats", db},
				{"export", db, "-o", filepath.Join(dir, "dump.jsonl")}, {"ui", db}, {"threads", db, "--json"},
			} {
				r := runIn(t, dir, "", args...)
				failsWith(t, r, 1, db+" is held by another process (a program has the store open); stop that program or wait for it to close the store")
				if r.stdout != "" {
					t.Errorf("ckpt %v printed something of a store it did not open:\n%s", args, r)
				}
				if names := dirNames(t, dir); !slices.Equal(names, []string{"live.db", "live.db-wal"}) {
					t.Errorf("ckpt %v left files: %v", args, names)
				}
			}
			// The service is not held up by a command that waits for the
			// file: it acknowledges writes while verify waits (told to wait
			// ten minutes), which then stops on Ctrl-C.
			h243WhileWaiting(t, dir, func() { w.waitFor(t, w.count()) }, "verify", db, "--lock-timeout", "10m")
			s := w.stopAndReopen(t, dir, db)
			for th, ids := range w.acks {
				for _, id := range ids {
					if _, err := s.GetTuple(context.Background(), ckpt.Config{ThreadID: th, CheckpointID: id}); err != nil {
						t.Fatalf("thread %s: the acknowledged checkpoint %s: %v", th, id, err)
					}
				}
			}
		})
	}
}

// The other way round: ckpt ui, which serves until it is stopped, holds
// the file only while it builds a page and a moment after (uiIdleClose),
// so a service that opens it for writing while ui runs gets it (its
// LockTimeout is a failure detector here), and writes; ui stops on Ctrl-C
// while the service holds the file, and every write the service made is
// there once it closes the store. The README says so beside ckpt ui.
// (Until h245 ui held the file until it was stopped, and this test pinned
// the service's ErrLocked.)
func TestH243ServiceOpenWhileUIServes(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	cmd := exec.Command(binPath, "ui", db)
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	detector := time.AfterFunc(time.Minute, func() { _ = cmd.Process.Kill() })
	defer detector.Stop()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.Contains(line, "(read-only) at http://") {
		t.Fatalf("ckpt ui did not start: %q, %v", line, err)
	}
	s, err := ckpt.Open(db, ckpt.Options{LockTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("a service's Open while ckpt ui runs: %v", err)
	}
	id, err := s.Save(context.Background(), "h243-service", map[string]any{"n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ckpt ui on Ctrl-C while the service holds the file: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(db, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.GetTuple(context.Background(), ckpt.Config{ThreadID: "h243-service", CheckpointID: id}); err != nil {
		t.Fatalf("the service's checkpoint: %v", err)
	}
}

// h243WhileWaiting runs the binary in dir with args (a --lock-timeout of
// 10m on a held file), runs during once the command says it waits, then
// sends Ctrl-C and wants the command to stop with the interrupted line.
func h243WhileWaiting(t *testing.T, dir string, during func(), args ...string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	detector := time.AfterFunc(2*time.Minute, func() { _ = cmd.Process.Kill() })
	defer detector.Stop()
	br := bufio.NewReader(errPipe)
	if line, err := br.ReadString('\n'); err != nil || !strings.Contains(line, "is held by another process: waiting for it up to 10m0s") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("ckpt %v: want the note that it waits first, got %q, %v", args, line, err)
	}
	during()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(br)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted || !strings.Contains(string(rest), "interrupted while waiting for") {
		t.Fatalf("ckpt %v on Ctrl-C while it waits: %v, %q", args, err, rest)
	}
}
