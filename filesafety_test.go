package ckpt_test

// Specs for the file itself: the locked file is the file at the path (a
// waiter never acts on a file Compact replaced), bbolt's panics on damaged
// pages never escape, Verify is safe beside writers, and an empty file is
// refused with a clear error. The multi-process specs re-execute the test
// binary as children, as crash_test.go does.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	fileChildEnv = "CKPT_FILE_CHILD" // compact-holder | waiter-rw | waiter-ro | damaged | sweep
	fileRounds   = 20
	fileChains   = 2 // TestOpenWaiterNeverActsOnACompactedFile's rounds run as this many chains at once
)

// fileChild runs one child role on the file named by crashFileEnv and
// returns the process's exit code.
func fileChild(mode, path string) int {
	switch mode {
	case "compact-holder":
		return compactHolder(path)
	case "waiter-rw", "waiter-ro":
		return waiter(path, mode == "waiter-ro")
	case "damaged":
		return damagedChild(path)
	case "sweep":
		return sweepChild(path) // fault_sweep_test.go
	case "fulldisk":
		return diskChild(path) // fulldisk_test.go
	case "realdisk":
		return rdChild(path) // realdisk_linux_test.go
	case "cutkill":
		return cutKillChild(path) // realdisk_cutkill_linux_test.go
	case "recover":
		return recoverChild(path) // hunt27_recover_kill_test.go
	case "procs":
		return procsChild(path) // hunt27_procs_test.go
	case "h146":
		return h146Child(path) // h146_chain_linux_test.go
	case "h172":
		return h172Child(path) // h172_child_linux_test.go
	case "h192":
		return h192Child(path) // h192_child_linux_test.go
	case "h246-probe":
		return h246Probe(path) // h246_second_proc_test.go
	}
	fmt.Fprintln(os.Stderr, "unknown child mode", mode)
	return 1
}

// compactHolder writes checkpoints (printing each acknowledged one, as the
// crash child does) and compacts after every few, printing "C" after each
// compaction, until it is killed.
func compactHolder(path string) int {
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	emit := func(lines ...string) {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			out.WriteString(l + "\n")
		}
		out.Flush()
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "holder:", err)
		os.Exit(3)
	}
	for i := 0; ; i++ {
		runOneStep(s, i%crashThreads, "sync", emit, fail)
		if i%6 == 5 {
			if _, err := s.Compact(ctx, nil); err != nil {
				fail(err)
			}
			emit("C")
		}
	}
}

// waiter waits for a line on stdin (the parent starts it early, so that
// its start-up overlaps the holder's work, and releases it once the holder
// has compacted), prints "waiting", opens the file (waiting for the
// holder), and once admitted: read-write, writes one step per thread
// (printing the acknowledgements) and closes; read-only, prints every
// checkpoint it sees as "S <id>" and closes.
func waiter(path string, readOnly bool) int {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		fmt.Fprintln(os.Stderr, "waiter: no go-ahead:", err)
		return 3
	}
	fmt.Println("waiting")
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: readOnly, LockTimeout: time.Minute})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	if readOnly {
		for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
			if err != nil {
				fmt.Fprintln(os.Stderr, "list:", err)
				return 3
			}
			fmt.Println("S", tp.Config.CheckpointID)
		}
	} else {
		emit := func(lines ...string) {
			for _, l := range lines {
				fmt.Println(l)
			}
		}
		fail := func(err error) {
			fmt.Fprintln(os.Stderr, "waiter:", err)
			os.Exit(3)
		}
		for th := range crashThreads {
			runOneStep(s, th, "sync", emit, fail)
		}
	}
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close:", err)
		return 3
	}
	return 0
}

// child is a started child process with its output lines.
type child struct {
	mode   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser // a line on it releases a waiter
	stderr strings.Builder
	mu     sync.Mutex
	lines  []string
	notify chan struct{} // gets a token after every new line
	done   chan struct{} // closed when stdout ends
}

func startChild(t *testing.T, mode, path string) *child {
	t.Helper()
	c := &child{mode: mode, notify: make(chan struct{}, 1), done: make(chan struct{})}
	c.cmd = exec.Command(testchild.Binary(), "-test.run=^$")
	c.cmd.Env = childEnv(fileChildEnv+"="+mode, crashFileEnv+"="+path)
	c.cmd.Stderr = &c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
			select {
			case c.notify <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

// waitFor waits until the child has printed a line for which ok is true,
// counting from line from; it returns the index after that line.
func (c *child) waitFor(t *testing.T, from int, ok func(string) bool) int {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		c.mu.Lock()
		for i := from; i < len(c.lines); i++ {
			if ok(c.lines[i]) {
				c.mu.Unlock()
				return i + 1
			}
		}
		n := len(c.lines)
		c.mu.Unlock()
		select {
		case <-c.notify:
		case <-c.done:
			c.mu.Lock()
			more := len(c.lines) > n
			c.mu.Unlock()
			if !more {
				t.Fatalf("child %v ended before the expected line: %s", c.mode, c.stderr.String())
			}
		case <-timeout:
			t.Fatalf("child %v: no expected line within a minute", c.mode)
		}
	}
}

func (c *child) wait(t *testing.T) []string {
	t.Helper()
	<-c.done
	_ = c.cmd.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

func parseAcks(t *testing.T, lines []string) []ackedCheckpoint {
	t.Helper()
	var acked []ackedCheckpoint
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 4 && f[0] == "P":
			step, _ := strconv.Atoi(f[3])
			acked = append(acked, ackedCheckpoint{thread: f[1], id: f[2], step: step})
		case len(f) == 3 && f[0] == "W":
			for i := range acked {
				if acked[i].id == f[2] {
					acked[i].writes = true
				}
			}
		}
	}
	return acked
}

// TestOpenWaiterNeverActsOnACompactedFile: processes waiting in Open (one
// read-write, one read-only) while the holder compacts again and again and
// is then killed are admitted to the file at the path, never to the file
// Compact replaced: nothing the holder acknowledged is lost, the read-only
// waiter sees all of it, and neither gets an error.
func TestOpenWaiterNeverActsOnACompactedFile(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs child processes")
	}
	// The rounds run as fileChains chains at once, each on a file of its
	// own that keeps growing over its rounds: a round waits mostly on
	// child processes starting and handing the lock on, so two chains take
	// little more than one. fileRounds rounds, half of them under -race
	// (as CI runs this package: 20 rounds took 37.5 s of a loaded run, a
	// round about 3.7 s); CKPT_HUNT_ROUNDS=N runs N.
	var wg sync.WaitGroup
	defer wg.Wait()
	for chain := range fileChains {
		wg.Go(func() {
			t.Run(fmt.Sprintf("chain-%d", chain), func(t *testing.T) {
				waiterRounds(t, filepath.Join(t.TempDir(), "swap.db"), huntRounds(fileRounds, fileRounds/2)/fileChains)
			})
		})
	}
}

// waiterRounds runs rounds rounds of TestOpenWaiterNeverActsOnACompactedFile
// on the file at path.
func waiterRounds(t *testing.T, path string, rounds int) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var all []ackedCheckpoint
	for round := range rounds {
		holder := startChild(t, "compact-holder", path)
		// The waiters start now but wait for a go-ahead on stdin before
		// they print "waiting" and open: their start-up (slow under -race)
		// overlaps the holder's, and they still open only once the holder
		// holds the file and has compacted it.
		rw := startChild(t, "waiter-rw", path)
		ro := startChild(t, "waiter-ro", path)
		next := holder.waitFor(t, 0, func(l string) bool { return l == "C" })
		for _, w := range []*child{rw, ro} {
			if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
				t.Fatal(err)
			}
		}
		rw.waitFor(t, 0, func(l string) bool { return l == "waiting" })
		ro.waitFor(t, 0, func(l string) bool { return l == "waiting" })
		// Two more compactions while both wait in Open (a swap closes the
		// handle of the old file, which is what they wait on), then a kill
		// at a random point after them.
		next = holder.waitFor(t, next, func(l string) bool { return l == "C" })
		holder.waitFor(t, next, func(l string) bool { return l == "C" })
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		_ = holder.cmd.Process.Signal(syscall.SIGKILL)
		held := parseAcks(t, holder.wait(t))
		if ws, ok := holder.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: holder was not killed: %s", round, holder.stderr.String())
		}
		rwLines, roLines := rw.wait(t), ro.wait(t)
		for _, w := range []*child{rw, ro} {
			if code := w.cmd.ProcessState.ExitCode(); code != 0 {
				t.Fatalf("round %d: waiter %s exited %d: %s", round, w.mode, code, w.stderr.String())
			}
		}
		seen := map[string]bool{}
		for _, l := range roLines {
			if id, ok := strings.CutPrefix(l, "S "); ok {
				seen[id] = true
			}
		}
		for _, a := range held {
			if !seen[a.id] {
				t.Fatalf("round %d: the read-only waiter does not see acknowledged checkpoint %s (%s step %d)", round, a.id, a.thread, a.step)
			}
		}
		all = append(all, held...)
		all = append(all, parseAcks(t, rwLines)...)
		verifyAfterCrash(t, path, all)
	}
	t.Logf("%d acknowledged checkpoints over %d rounds", len(all), rounds)
}

// damagedChild opens a damaged file read-write (with NoWAL if
// CKPT_NOWAL is set) and then read-only, and
// reads, writes, verifies and closes whatever opens. An Open error that
// is not ErrCorrupt is printed as "BAD ..."; a panic would end the process
// with exit code 2.
func damagedChild(path string) int {
	exercise := func(s *ckpt.Store, write bool) {
		c, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for _, err := range s.List(c, ckpt.ListOptions{}) {
			if err != nil {
				fmt.Println("list:", err)
				break
			}
		}
		for th := range 6 {
			_, _ = s.GetTuple(c, ckpt.Config{ThreadID: fmt.Sprintf("thread-%d", th)})
		}
		if write {
			for th := range 6 {
				thread := fmt.Sprintf("thread-%d", th)
				if _, err := s.Save(c, thread, crashState(th, 30), crashMeta(th, 30)); err != nil {
					fmt.Println("save:", err)
				}
			}
			_ = s.Flush(c)
			if _, err := s.Compact(c, nil); err != nil {
				fmt.Println("compact:", err)
			}
		}
		if _, err := s.Verify(c, ckpt.VerifyOptions{}); err != nil {
			fmt.Println("verify:", err)
		}
		if err := s.Close(); err != nil {
			fmt.Println("close:", err)
		}
	}
	noWAL := os.Getenv("CKPT_NOWAL") != ""
	for _, ro := range []bool{false, true} {
		s, err := ckpt.Open(path, ckpt.Options{ReadOnly: ro, NoWAL: noWAL, LockTimeout: 5 * time.Second})
		switch {
		case err == nil:
			exercise(s, !ro)
		case errors.Is(err, ckpt.ErrCorrupt):
			fmt.Println("open:", err)
		default:
			fmt.Println("BAD open (read-only", ro, "):", err)
		}
	}
	return 0
}

// buildDamageBase writes a store with small and large (overflow page)
// values and freed pages, closed cleanly.
func buildDamageBase(t *testing.T, path string) {
	t.Helper()
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	for th := range 6 {
		thread := fmt.Sprintf("thread-%d", th)
		for step := range 12 {
			st := crashState(th, step)
			if step%4 == 0 {
				st["big"] = big + strconv.Itoa(step)
			}
			if _, err := s.Save(ctx, thread, st, crashMeta(th, step)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.DeleteThread(ctx, "thread-5"); err != nil { // freed pages
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedFileNeverPanics: bytes flipped in page headers and in page
// data, 50 seeds, each file opened, read, written, verified and closed in
// a child process (every third with NoWAL): no child dies of a Go panic
// or a fatal error, and Open fails only with ErrCorrupt.
func TestDamagedFileNeverPanics(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs child processes")
	}
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	buildDamageBase(t, base)
	orig, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	const pageSize = 4096
	pages := len(orig) / pageSize
	// The seeds share nothing (each child has a file of its own), so they
	// run damagedWorkers at a time: a child spends much of its life
	// starting up and waiting on fsync, not on a CPU.
	seeds := make(chan int)
	var wg sync.WaitGroup
	for range damagedWorkers {
		wg.Go(func() {
			for seed := range seeds {
				damagedSeed(t, dir, orig, pages, seed)
			}
		})
	}
	for seed := range 50 {
		seeds <- seed
	}
	close(seeds)
	wg.Wait()
}

// damagedWorkers is how many damaged-file children run at once.
const damagedWorkers = 4

// damagedSeed flips bytes of orig as seed says, runs the damaged child on
// the result and reports (with t.Errorf: it runs on a worker goroutine)
// a child that died or an Open error other than ErrCorrupt.
func damagedSeed(t *testing.T, dir string, orig []byte, pages, seed int) {
	const pageSize = 4096
	rng := rand.New(rand.NewPCG(uint64(seed), 3))
	data := bytes.Clone(orig)
	kind := "header"
	if seed%2 == 1 {
		kind = "data"
	}
	var flipped []string
	for range 1 + rng.IntN(3) {
		pg := 2 + rng.IntN(pages-2) // meta pages have a checksum of their own
		off := pg * pageSize
		if kind == "header" {
			off += rng.IntN(16)
		} else {
			off += 16 + rng.IntN(pageSize-16)
		}
		data[off] ^= byte(1 + rng.IntN(255))
		flipped = append(flipped, fmt.Sprintf("page %d byte %d", pg, off%pageSize))
	}
	path := filepath.Join(dir, fmt.Sprintf("damaged-%d.db", seed))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Error(err)
		return
	}
	// The binary first: on a cold cache testchild builds it, which must
	// not count against the hang detector's clock.
	bin := testchild.Binary()
	c, cancel := context.WithTimeout(ctx, 2*time.Minute) // failure detector for a hang
	defer cancel()
	cmd := exec.CommandContext(c, bin, "-test.run=^$")
	env := []string{fileChildEnv + "=damaged", crashFileEnv + "=" + path}
	if seed%3 == 2 {
		kind += ", NoWAL" // the commit loop writes to bbolt itself
		env = append(env, "CKPT_NOWAL=1")
	}
	cmd.Env = childEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	se := stderr.String()
	if strings.Contains(se, "panic:") || strings.Contains(se, "fatal error:") || cmd.ProcessState.ExitCode() == 2 {
		t.Errorf("seed %d (%s: %s): child died: %v\n%s", seed, kind, strings.Join(flipped, ", "), err, firstLines(se, 12))
		return
	}
	if err != nil {
		t.Errorf("seed %d (%s: %s): child: %v\n%s", seed, kind, strings.Join(flipped, ", "), err, firstLines(se, 12))
		return
	}
	// "BAD open", not "BAD": a ULID printed in a read's error may hold
	// "BAD" (seed 24 failed on checkpoint 01M8XAQ87MBAD0M9QFRFPT05ZF).
	if out := stdout.String(); strings.Contains(out, "BAD open") {
		t.Errorf("seed %d (%s: %s): %s", seed, kind, strings.Join(flipped, ", "), out)
	}
	_ = os.Remove(path)
	_ = os.Remove(path + "-wal")
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// liveVerifyFor is how long TestVerifyBesideWriters runs (-short: less).
const liveVerifyFor = 10 * time.Second

// TestVerifyBesideWriters: Verify looping while 4 writers save 64 KiB
// values (so the applier commits to bbolt all along) reports no problem
// and does not race (run it with -race).
func TestVerifyBesideWriters(t *testing.T) {
	t.Parallel()
	d := liveVerifyFor
	if testing.Short() {
		d = time.Second
	}
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "live.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 4))
			val := make([]byte, 64<<10)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				for j := range val {
					val[j] = byte(rng.Uint32())
				}
				// A few threads per writer, some deleted again, so pages
				// are freed and reused while Verify runs.
				thread := fmt.Sprintf("w%d-t%d", w, i%5)
				if _, err := s.Save(ctx, thread, map[string]any{"blob": val, "i": i}, nil); err != nil {
					errs <- err
					return
				}
				if i%7 == 6 {
					if err := s.DeleteThread(ctx, fmt.Sprintf("w%d-t%d", w, (i+1)%5)); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	deadline := time.Now().Add(d)
	runs := 0
	for time.Now().Before(deadline) {
		rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			close(stop)
			wg.Wait()
			t.Fatalf("Verify on a live store after %d runs: %+v", runs, rep.Problems)
		}
		runs++
	}
	close(stop)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	t.Logf("%d Verify runs beside 4 writers", runs)
}

// TestOpenEmptyFile: an empty or tiny file opened read-only is refused as
// not a ckpt file (ErrCorrupt), and leaves the file untouched; opened
// read-write, an empty file becomes a new store.
func TestOpenEmptyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, size := range []int{0, 1, 100, 4095} {
		path := filepath.Join(dir, fmt.Sprintf("f%d.db", size))
		if err := os.WriteFile(path, bytes.Repeat([]byte{0}, size), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
		if !errors.Is(err, ckpt.ErrCorrupt) || !strings.Contains(err.Error(), "not a ckpt file") {
			t.Fatalf("read-only open of a %d-byte file: %v", size, err)
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != int64(size) {
			t.Fatalf("read-only open changed the file: %v %v", fi, err)
		}
		if size == 0 {
			continue
		}
		if _, err := ckpt.Open(path, ckpt.Options{}); !errors.Is(err, ckpt.ErrCorrupt) {
			t.Fatalf("read-write open of a %d-byte file: %v", size, err)
		}
	}
	path := filepath.Join(dir, "f0.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatalf("read-write open of an empty file: %v", err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
