package ckpt_test

// Processes racing on one file: writers that open, save and close (or exit
// without Close, as a kill leaves the file), beside processes that open and
// close it, compact it and run RecoverLog on it, each in a loop, every one
// waiting for the file's lock. Whatever order they get it in, every save a
// writer had acknowledged reads back exactly at the end, and Verify is
// clean: a compaction's rename, a recovery and a crashed writer's log
// handed from one process to the next lose nothing.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	procsRoleEnv  = "CKPT_PROCS_ROLE"
	procsItersEnv = "CKPT_PROCS_ITERS"
)

// procsChild runs its role's loop; a writer prints "A <thread> <i> <id>"
// for each acknowledged Save. A lock not had in time is skipped (ErrLocked).
func procsChild(path string) int {
	role := os.Getenv(procsRoleEnv)
	iters, _ := strconv.Atoi(os.Getenv(procsItersEnv))
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	opts := ckpt.Options{LockTimeout: 20 * time.Second}
	for it := range iters {
		if role == "recover" {
			if _, err := ckpt.RecoverLog(path, opts); err != nil {
				fmt.Fprintln(os.Stderr, "recover:", err)
				return 1
			}
			continue
		}
		o := opts
		o.ReadOnly = role == "reader" && it%2 == 0
		s, err := ckpt.Open(path, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, role, "open:", err)
			return 1
		}
		switch role {
		case "compact":
			if _, err := s.Compact(ctx, nil); err != nil {
				fmt.Fprintln(os.Stderr, "compact:", err)
				return 1
			}
		case "reader":
			for _, err := range s.List(ctx, ckpt.ListOptions{}) {
				if err != nil {
					fmt.Fprintln(os.Stderr, "list:", err)
					return 1
				}
			}
		default: // writer name
			for i := range 3 {
				n := it*3 + i
				id, err := s.Save(ctx, role, map[string]any{"n": n, "pad": strings.Repeat(role, 100+n)}, nil)
				if err != nil {
					fmt.Fprintln(os.Stderr, "save:", err)
					return 1
				}
				fmt.Fprintf(out, "A %s %d %s\n", role, n, id)
			}
			out.Flush()
			if it%2 == 1 {
				os.Exit(0) // no Close: the log holds what bbolt may lack
			}
		}
		if err := s.Close(); err != nil {
			fmt.Fprintln(os.Stderr, role, "close:", err)
			return 1
		}
	}
	return 0
}

// TestProcessesRacingOnOneFile: two writers (each a fresh process per two
// rounds, the second of which exits without Close), a reader (read-write
// and read-only opens), a compactor and a recoverer, all at once.
func TestProcessesRacingOnOneFile(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("child processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	rounds := huntRounds(6, 3)
	type acked struct {
		thread string
		n      int
	}
	var mu sync.Mutex
	ids := map[string]acked{}
	run := func(role string, iters int) error {
		cmd := exec.Command(testchild.Binary(), "-test.run=^$")
		cmd.Env = childEnv("CKPT_FILE_CHILD=procs", "CKPT_CRASH_FILE="+path, procsRoleEnv+"="+role,
			procsItersEnv+"="+strconv.Itoa(iters))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		mu.Lock()
		defer mu.Unlock()
		for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			f := strings.Fields(l)
			if len(f) == 4 && f[0] == "A" {
				n, _ := strconv.Atoi(f[2])
				ids[f[3]] = acked{f[1], n}
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %v\n%s", role, err, stderr.String())
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for _, w := range []string{"wa", "wb"} {
		wg.Go(func() {
			for r := range rounds {
				// Two opens a process: the second exits without Close.
				if err := run(w, 2); err != nil {
					errs <- fmt.Errorf("round %d: %w", r, err)
					return
				}
			}
		})
	}
	for _, role := range []string{"reader", "compact", "recover"} {
		wg.Go(func() {
			if err := run(role, 2*rounds); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	r, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for id, a := range ids {
		tp, err := r.GetTuple(ctx, ckpt.Config{ThreadID: a.thread, CheckpointID: id})
		if err != nil {
			t.Errorf("acknowledged save %s/%d (%s): %v", a.thread, a.n, id, err)
			continue
		}
		var n int
		var pad string
		if err := errors.Join(tp.Decode("n", &n), tp.Decode("pad", &pad)); err != nil || n != a.n || pad != strings.Repeat(a.thread, 100+a.n) {
			t.Errorf("save %s/%d (%s) reads n=%d, a pad of %d bytes (%v)", a.thread, a.n, id, n, len(pad), err)
		}
	}
	if want := 2 * rounds * 2 * 3; len(ids) != want {
		t.Errorf("%d saves acknowledged, want %d", len(ids), want)
	}
	if rep, err := r.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("Verify: %+v, %v", rep.Problems, err)
	}
	t.Logf("%d rounds, %d saves acknowledged", rounds, len(ids))
}
