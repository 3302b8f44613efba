package ckpt_test

// Crash proof by killing the process, as bbolt's own robustness tests do:
// the test binary re-executes itself as a child that writes W1-style
// checkpoints and prints every acknowledged one; the parent SIGKILLs it at
// a random moment, reopens the file and checks that every acknowledged
// checkpoint is there with exactly its state, metadata and pending writes,
// that no checkpoint is partial, and that bbolt's consistency check passes.

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	crashChildEnv = "CKPT_CRASH_CHILD" // mode: sync | async | concurrent | nosync
	crashFileEnv  = "CKPT_CRASH_FILE"
	crashThreads  = 4
)

type crashMsg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// crashText is deterministic filler text for (thread, step).
func crashText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.IntN(26))
		if r.IntN(6) == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}

// crashMessages caches crashMessage: crashState builds every message of a
// thread up to its step, for each checkpoint written and each one
// verified, and generating the text again each time (slow under -race)
// was most of what the kill tests' verification cost.
var crashMessages sync.Map // [2]int{thread, step} -> crashMsg

func crashMessage(thread, step int) crashMsg {
	if m, ok := crashMessages.Load([2]int{thread, step}); ok {
		return m.(crashMsg)
	}
	role := "user"
	if step%2 == 1 {
		role = "assistant"
	}
	m := crashMsg{Role: role, Content: crashText(uint64(thread)*1_000_003+uint64(step), 48)}
	crashMessages.Store([2]int{thread, step}, m)
	return m
}

func crashState(thread, step int) map[string]any {
	msgs := make([]crashMsg, step+1)
	for i := range msgs {
		msgs[i] = crashMessage(thread, i)
	}
	return map[string]any{"messages": msgs, "turn_count": step + 1, "context": crashText(uint64(thread), 96)}
}

func crashMeta(thread, step int) ckpt.Metadata {
	node := "answer"
	if step%2 == 1 {
		node = "tools"
	}
	return ckpt.Metadata{"source": "loop", "step": step, "node": node, "route": "generate", "reason": "normal", "run_id": fmt.Sprintf("run-%d", thread)}
}

// childEnv is the environment of a child process, with the race
// detector's exit sleep off (ckpt.ChildEnvForTest says why).
func childEnv(extra ...string) []string { return ckpt.ChildEnvForTest(extra...) }

// TestMain lets the test binary act as the crash child.
func TestMain(m *testing.M) {
	if mode := os.Getenv(fileChildEnv); mode != "" {
		os.Exit(fileChild(mode, os.Getenv(crashFileEnv)))
	}
	if path := os.Getenv(listChildEnv); path != "" {
		os.Exit(listChild(path))
	}
	if os.Getenv("CKPT_H215_CHILD") != "" {
		os.Exit(ckpt.H215Child())
	}
	if os.Getenv("CKPT_H220_CHILD") != "" {
		os.Exit(ckpt.H220Child())
	}
	if mode := os.Getenv(crashChildEnv); mode != "" {
		crashChild(mode, os.Getenv(crashFileEnv))
		return
	}
	if raceEnabled && os.Getenv("CKPT_RACE_FULL") == "" {
		// The property tests (rapid) draw 40 cases under -race, not
		// rapid's 100: CI runs this package only under -race, where
		// DeltaProperties, FoldLevelsProperty, VersionsProperty and
		// Spec25WritesProperty took 64, 60, 32 and 30 s of a loaded
		// run. Every run draws new cases (a new seed) and replays the
		// failures kept in testdata/rapid; -rapid.checks=N on the command
		// line still wins (flag.Parse runs after this).
		_ = flag.Set("rapid.checks", "40")
	}
	flag.Parse()
	if err := ckpt.ApplyWholeSweeps(); err != nil {
		fmt.Fprintln(os.Stderr, "-whole-sweeps:", err)
		os.Exit(2)
	}
	testchild.Prebuild()
	code := m.Run()
	ckpt.CleanupSharedFixtures()
	testchild.Cleanup()
	os.Exit(code)
}

// crashChild writes until it is killed. Output lines:
//
//	P <thread> <id> <step>   the put of step was acknowledged
//	W <thread> <id>          its pending writes were acknowledged
//
// In async mode a line is printed only after a Flush that covers it.
func crashChild(mode, path string) {
	opts := ckpt.Options{}
	switch mode {
	case "async":
		opts.Durability = ckpt.Async
	case "nosync":
		opts.Durability = ckpt.NoSync
	case "nowal", "maint-nowal":
		opts.NoWAL = true // Sync, committed to bbolt directly
	case "maint-rekey-a", "maint-rekey-b":
		opts.Encryption = huntRekeyKeys(mode) // hunt26_maint_kill_test.go
	}
	s, err := ckpt.Open(path, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
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
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	if strings.HasPrefix(mode, "maint-") {
		go maintain(s, mode, path, fail) // crash_maint_test.go
	}
	if mode == "concurrent" || strings.HasPrefix(mode, "maint-") {
		// One writer goroutine per thread, sharing the store's commits.
		for th := range crashThreads {
			go func() {
				for {
					runOneStep(s, th, mode, emit, fail)
				}
			}()
		}
		select {}
	}
	// One writer, threads round-robin.
	for th := 0; ; th = (th + 1) % crashThreads {
		runOneStep(s, th, mode, emit, fail)
	}
}

// asyncPending holds acknowledged-but-not-yet-flushed lines (async mode has
// one writer).
var asyncPending []string

type head struct {
	parent ckpt.Config
	step   int
}

var (
	headsMu sync.Mutex
	heads   = map[int]head{}
)

// runOneStep writes the next step of thread th (one writer, round-robin).
// Each thread's head is kept in memory, as a graph runner does: an Async
// write is acknowledged before a reader can see it.
func runOneStep(s *ckpt.Store, th int, mode string, emit func(...string), fail func(error)) {
	thread := fmt.Sprintf("thread-%d", th)
	headsMu.Lock()
	h, ok := heads[th]
	headsMu.Unlock()
	if !ok {
		h.parent.ThreadID = thread
		if tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread}); err == nil {
			h.parent = tp.Config
			h.step = int(tp.Metadata["step"].(int64)) + 1
		}
	}
	parent, step := h.parent, h.step
	cp := ckpt.Checkpoint{V: 4, ChannelValues: crashState(th, step), ChannelVersions: map[string]string{
		"messages": strconv.Itoa(step + 1), "turn_count": strconv.Itoa(step + 1), "context": "1"}}
	nv := map[string]string{"messages": strconv.Itoa(step + 1), "turn_count": strconv.Itoa(step + 1)}
	if step == 0 {
		nv["context"] = "1"
	}
	cfg, err := s.Put(ctx, parent, cp, crashMeta(th, step), nv)
	if err != nil {
		fail(err)
	}
	writes := []ckpt.Write{{Channel: "messages", Value: crashMessage(th, step)}, {Channel: "turn_count", Value: step + 1}}
	if err := s.PutWrites(ctx, cfg, writes, fmt.Sprintf("task-%d", step), ""); err != nil {
		fail(err)
	}
	headsMu.Lock()
	heads[th] = head{cfg, step + 1}
	headsMu.Unlock()
	lines := []string{fmt.Sprintf("P %s %s %d", thread, cfg.CheckpointID, step), fmt.Sprintf("W %s %s", thread, cfg.CheckpointID)}
	if mode != "async" {
		emit(lines...)
		return
	}
	asyncPending = append(asyncPending, lines...)
	if len(asyncPending) >= 10 {
		if err := s.Flush(ctx); err != nil {
			fail(err)
		}
		emit(asyncPending...)
		asyncPending = asyncPending[:0]
	}
}

type ackedCheckpoint struct {
	thread, id string
	step       int
	writes     bool
}

// crashRound runs the child once, kills it after delay, and returns what
// it acknowledged.
func crashRound(t *testing.T, mode, path string, delay time.Duration) []ackedCheckpoint {
	t.Helper()
	cmd := exec.Command(testchild.Binary(), "-test.run=^$")
	cmd.Env = childEnv(crashChildEnv+"="+mode, crashFileEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	readDone := make(chan struct{})
	writing := make(chan struct{}) // closed at the first acknowledgement
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if lines = append(lines, sc.Text()); len(lines) == 1 {
				close(writing)
			}
		}
	}()
	// The delay runs from the first acknowledgement, so a slow start (a
	// loaded machine, -race) cannot use it all up before any write.
	select {
	case <-writing:
	case <-readDone:
	case <-time.After(30 * time.Second):
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-readDone
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed (err %v): %s", err, stderr.String())
	}
	byID := map[string]*ackedCheckpoint{}
	var acked []ackedCheckpoint
	for _, l := range lines {
		f := strings.Fields(l)
		switch {
		case len(f) == 4 && f[0] == "P":
			step, _ := strconv.Atoi(f[3])
			acked = append(acked, ackedCheckpoint{thread: f[1], id: f[2], step: step})
			byID[f[2]] = &acked[len(acked)-1]
		case len(f) == 3 && f[0] == "W":
			for i := range acked {
				if acked[i].id == f[2] {
					acked[i].writes = true
				}
			}
		default:
			t.Fatalf("child printed %q", l)
		}
	}
	return acked
}

// verifyTuple checks that a stored checkpoint is complete and exactly the
// state its step says.
func verifyTuple(t *testing.T, tp *ckpt.Tuple) (thread, step int) {
	t.Helper()
	if _, err := fmt.Sscanf(tp.Config.ThreadID, "thread-%d", &thread); err != nil {
		t.Fatalf("unexpected thread %q", tp.Config.ThreadID)
	}
	stepV, ok := tp.Metadata["step"].(int64)
	if !ok {
		t.Fatalf("checkpoint %s: metadata %v", tp.Config.CheckpointID, tp.Metadata)
	}
	step = int(stepV)
	want := crashState(thread, step)
	var msgs []crashMsg
	var turn int
	var context string
	if err := tp.Decode("messages", &msgs); err != nil {
		t.Fatalf("checkpoint %s step %d: messages: %v", tp.Config.CheckpointID, step, err)
	}
	if err := tp.Decode("turn_count", &turn); err != nil {
		t.Fatalf("checkpoint %s: turn_count: %v", tp.Config.CheckpointID, err)
	}
	if err := tp.Decode("context", &context); err != nil {
		t.Fatalf("checkpoint %s: context: %v", tp.Config.CheckpointID, err)
	}
	if !reflect.DeepEqual(msgs, want["messages"]) || turn != step+1 || context != want["context"] {
		t.Fatalf("checkpoint %s (thread %d step %d) has a wrong state", tp.Config.CheckpointID, thread, step)
	}
	if !reflect.DeepEqual(tp.Metadata, normalizeMeta(crashMeta(thread, step))) {
		t.Fatalf("checkpoint %s metadata %v", tp.Config.CheckpointID, tp.Metadata)
	}
	switch len(tp.PendingWrites) {
	case 0:
	case 2:
		var m crashMsg
		var n int
		if err := tp.PendingWrites[0].Value.Decode(&m); err != nil || m != crashMessage(thread, step) {
			t.Fatalf("checkpoint %s: pending write 0 = %v (%v)", tp.Config.CheckpointID, m, err)
		}
		if err := tp.PendingWrites[1].Value.Decode(&n); err != nil || n != step+1 {
			t.Fatalf("checkpoint %s: pending write 1 = %v (%v)", tp.Config.CheckpointID, n, err)
		}
	default:
		t.Fatalf("checkpoint %s has %d pending writes: partial", tp.Config.CheckpointID, len(tp.PendingWrites))
	}
	return thread, step
}

func normalizeMeta(m ckpt.Metadata) ckpt.Metadata {
	out := ckpt.Metadata{}
	for k, v := range m {
		if i, ok := v.(int); ok {
			v = int64(i)
		}
		out[k] = v
	}
	return out
}

func verifyAfterCrash(t *testing.T, path string, acked []ackedCheckpoint) {
	t.Helper()
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	for _, a := range acked {
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: a.thread, CheckpointID: a.id})
		if err != nil {
			t.Fatalf("acknowledged checkpoint %s of %s (step %d) lost: %v", a.id, a.thread, a.step, err)
		}
		if _, step := verifyTuple(t, tp); step != a.step {
			t.Fatalf("checkpoint %s has step %d, acknowledged as %d", a.id, step, a.step)
		}
		if a.writes && len(tp.PendingWrites) != 2 {
			t.Fatalf("acknowledged pending writes of %s lost", a.id)
		}
	}
	// Every stored checkpoint is whole, and each thread's steps are gapless.
	steps := map[int][]int{}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		th, step := verifyTuple(t, tp)
		steps[th] = append(steps[th], step)
	}
	for th, st := range steps {
		for i, step := range st { // newest first
			if step != len(st)-1-i {
				t.Fatalf("thread %d has steps %v", th, st)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("bbolt check after kill: %v", err)
	}
}

func TestCrashKillNeverLosesAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rounds := map[string]int{"sync": 12, "async": 8, "concurrent": 8, "nosync": 4, "nowal": 4}
	// The modes share nothing (a file each), so they run at once: from
	// goroutines rather than as parallel subtests, which would wait for
	// -test.parallel slots behind the package's other tests.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, mode := range []string{"sync", "async", "concurrent", "nosync", "nowal"} {
		wg.Go(func() {
			t.Run(mode, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "crash.db")
				rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
				total := 0
				for round := range rounds[mode] {
					delay := time.Duration(50+rng.IntN(250)) * time.Millisecond
					acked := crashRound(t, mode, path, delay)
					total += len(acked)
					verifyAfterCrash(t, path, acked)
					_ = round
				}
				if total == 0 {
					t.Fatalf("the child acknowledged nothing in %d rounds", rounds[mode])
				}
				t.Logf("%s: %d acknowledged checkpoints over %d kills", mode, total, rounds[mode])
			})
		})
	}
}
