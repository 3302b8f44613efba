package main

// The ckpt command against a file another process writes (h26-hunt): while
// a writer (Sync or NoSync) holds the file, every command says so and
// exits 1 without touching it; once the writer is killed (SIGKILL, its
// log not applied), the read commands read through the log what it
// acknowledged, exactly, without changing either file, and gc and compact
// keep what they must.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// Environment of the writer child (huntWriter): the store's path and its
// durability ("sync" or "nosync").
const (
	huntWriterEnv     = "CKPT_TEST_HUNT_WRITER"
	huntWriterModeEnv = "CKPT_TEST_HUNT_WRITER_MODE"
	huntThreads       = 3
)

func init() {
	if path := os.Getenv(huntWriterEnv); path != "" {
		os.Exit(huntWriter(path, os.Getenv(huntWriterModeEnv)))
	}
}

// huntState is the state of step of thread th: a list that grows a step
// at a time (stored as deltas), a value changed each step and one changed
// every third step.
func huntState(th, step int) map[string]any {
	items := make([]any, step+1)
	for i := range items {
		items[i] = fmt.Sprintf("t%d item %d", th, i)
	}
	return map[string]any{
		"items": items,
		"step":  int64(step),
		"slow":  fmt.Sprintf("t%d slow %d", th, step/3),
	}
}

// huntWriter saves steps into huntThreads threads until it is killed,
// each with one pending write, and prints "ack THREAD STEP ID" once both
// are acknowledged.
func huntWriter(path, mode string) int {
	ctx := context.Background()
	opts := ckpt.Options{}
	if mode == "nosync" {
		opts.Durability = ckpt.NoSync
	}
	s, err := ckpt.Open(path, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	_ = out.Flush()
	for step := 0; ; step++ {
		for th := range huntThreads {
			thread := fmt.Sprintf("w%d", th)
			id, err := s.Save(ctx, thread, huntState(th, step), ckpt.Metadata{"step": step})
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			cfg := ckpt.Config{ThreadID: thread, CheckpointID: id}
			if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "inbox", Value: fmt.Sprintf("t%d write %d", th, step)}}, "task", ""); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			fmt.Fprintf(out, "ack %s %d %s\n", thread, step, id)
			_ = out.Flush()
		}
	}
}

type huntAck struct {
	thread string
	step   int
	id     string
}

// huntShowMatches checks that ckpt show's document is step's checkpoint
// of thread th as written (its pending write too if writesAcked).
func huntShowMatches(t *testing.T, where string, doc checkpointDoc, th, step int, writesAcked bool) {
	t.Helper()
	st := huntState(th, step)
	want := map[string]any{"items": st["items"], "step": float64(step), "slow": st["slow"]}
	if !reflect.DeepEqual(doc.State, want) {
		t.Fatalf("%s: ckpt show of w%d step %d: state %v, written %v", where, th, step, doc.State, want)
	}
	if got, _ := doc.Metadata["step"].(float64); int(got) != step {
		t.Fatalf("%s: ckpt show of w%d step %d: metadata %v", where, th, step, doc.Metadata)
	}
	wantWrite := fmt.Sprintf("t%d write %d", th, step)
	if len(doc.PendingWrites) == 0 && !writesAcked {
		return // its Save was durable, its PutWrites not made before the kill
	}
	if len(doc.PendingWrites) != 1 || doc.PendingWrites[0].Value != wantWrite {
		t.Fatalf("%s: ckpt show of w%d step %d: pending writes %+v, written %q", where, th, step, doc.PendingWrites, wantWrite)
	}
}

func TestHuntCLIOnAFileAKilledWriterLeft(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rounds := 4
	if v, err := strconv.Atoi(os.Getenv("CKPT_HUNT_ROUNDS")); err == nil {
		rounds = v
	}
	for _, mode := range []string{"sync", "nosync"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 26))
			total := 0
			for round := range rounds {
				total += huntKilledWriterRound(t, rng, mode, round)
			}
			t.Logf("%s: %d acknowledged checkpoints over %d kills", mode, total, rounds)
		})
	}
}

func huntKilledWriterRound(t *testing.T, rng *rand.Rand, mode string, round int) int {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "w.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), huntWriterEnv+"="+db, huntWriterModeEnv+"="+mode)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != "ready" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("writer did not start: %s", stderr.String())
	}
	var acked []huntAck
	read := func() {
		f := strings.Fields(lines.Text())
		if len(f) != 4 || f[0] != "ack" {
			t.Fatalf("writer said %q", lines.Text())
		}
		step, _ := strconv.Atoi(f[2])
		acked = append(acked, huntAck{f[1], step, f[3]})
	}
	// While the writer holds the file: every command says so, exit 1.
	for range 20 + rng.IntN(200) {
		if !lines.Scan() {
			t.Fatalf("writer stopped: %s", stderr.String())
		}
		read()
	}
	held := [][]string{{"verify", db}, {"show", db, "w0"}, {"threads", db}, {"export", db}, {"stats", db},
		{"compact", db}, {"gc", db, "--keep-last", "2"}}
	cmdArgs := held[rng.IntN(len(held))]
	r := runIn(t, dir, "", append(cmdArgs, "--lock-timeout", "50ms")...)
	if r.code != exitError || !strings.Contains(r.stderr, "held by another process") || r.stdout != "" {
		t.Fatalf("round %d: %s on a file a writer holds:\n%s", round, cmdArgs[0], r)
	}
	for range rng.IntN(150) {
		if !lines.Scan() {
			t.Fatalf("writer stopped: %s", stderr.String())
		}
		read()
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for lines.Scan() {
		read()
	}
	_ = cmd.Wait()
	last := map[string]huntAck{}
	for _, a := range acked {
		last[a.thread] = a
	}
	before := huntFiles(t, db)
	// The read commands: exact values, exit 0, neither file changed.
	ok(t, dir, "verify", db)
	threads := decodeJSON[[]struct {
		Thread        string `json:"thread"`
		Checkpoints   int    `json:"checkpoints"`
		PendingWrites int    `json:"pending_writes"`
		NewestID      string `json:"newest_id"`
	}](t, ok(t, dir, "threads", db, "--json"))
	for _, th := range threads {
		a, isAcked := last[th.Thread]
		if !isAcked {
			continue // a thread whose first Save was not acknowledged
		}
		// One more step than acknowledged may be stored (durable, its ack
		// not yet printed); never fewer.
		if th.Checkpoints < a.step+1 || th.Checkpoints > a.step+2 || th.PendingWrites < a.step+1 {
			t.Fatalf("round %d: ckpt threads: %s holds %d checkpoints, %d writes; acknowledged up to step %d", round, th.Thread, th.Checkpoints, th.PendingWrites, a.step)
		}
	}
	if len(threads) < len(last) {
		t.Fatalf("round %d: ckpt threads lists %d threads, %d acknowledged", round, len(threads), len(last))
	}
	check := []huntAck{acked[rng.IntN(len(acked))], acked[len(acked)-1]}
	for _, a := range last {
		check = append(check, a)
	}
	for _, a := range check {
		th, _ := strconv.Atoi(strings.TrimPrefix(a.thread, "w"))
		huntShowMatches(t, fmt.Sprintf("round %d, after the kill", round), decodeJSON[checkpointDoc](t, ok(t, dir, "show", db, a.thread, a.id, "--json")), th, a.step, true)
	}
	dump := ok(t, dir, "export", db).stdout
	for _, a := range acked {
		if !strings.Contains(dump, a.id) {
			t.Fatalf("round %d: ckpt export has no checkpoint %s (%s step %d)", round, a.id, a.thread, a.step)
		}
	}
	ok(t, dir, "stats", db, "--json")
	if after := huntFiles(t, db); !reflect.DeepEqual(before, after) {
		t.Fatalf("round %d: the read commands changed the files a killed writer left", round)
	}
	// gc and compact: the newest steps of each thread stay, exact.
	ok(t, dir, "gc", db, "--keep-last", "2")
	ok(t, dir, "compact", db)
	ok(t, dir, "verify", db)
	for _, a := range last {
		th, _ := strconv.Atoi(strings.TrimPrefix(a.thread, "w"))
		huntShowMatches(t, fmt.Sprintf("round %d, after gc and compact", round), decodeJSON[checkpointDoc](t, ok(t, dir, "show", db, a.thread, a.id, "--json")), th, a.step, true)
		doc := decodeJSON[checkpointDoc](t, ok(t, dir, "show", db, a.thread, "--json"))
		if got, _ := doc.Metadata["step"].(float64); int(got) < a.step || int(got) > a.step+1 {
			t.Fatalf("round %d: newest of %s after gc and compact is step %v, acknowledged up to %d", round, a.thread, doc.Metadata["step"], a.step)
		}
		huntShowMatches(t, fmt.Sprintf("round %d, newest after gc and compact", round), doc, th, int(doc.Metadata["step"].(float64)), int(doc.Metadata["step"].(float64)) == a.step)
	}
	return len(acked)
}

// huntFiles returns the bytes of the store and its log.
func huntFiles(t *testing.T, db string) [2][]byte {
	t.Helper()
	var out [2][]byte
	for i, p := range []string{db, db + "-wal"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestHuntExportThroughALinkSparesTheLog: a store named by a symbolic link
// keeps its log beside the file the link names (ckpt.Open); export -o
// naming that log must be refused as the store's own, as it is by the
// link's name, and the log left as it was.
func TestHuntExportThroughALinkSparesTheLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "w.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), huntWriterEnv+"="+db, huntWriterModeEnv+"=sync")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	for i := 0; i < 10 && lines.Scan(); i++ {
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	link := filepath.Join(dir, "current.db")
	if err := os.Symlink(db, link); err != nil {
		t.Fatal(err)
	}
	before := huntFiles(t, db)
	if len(before[1]) == 0 {
		t.Fatal("the killed writer left no log")
	}
	failsWith(t, runIn(t, dir, "", "export", link, "-o", db+"-wal"), exitUsage, "is the store file or its log")
	if after := huntFiles(t, db); !reflect.DeepEqual(before, after) {
		t.Fatal("export through the link wrote over the store's log")
	}
}
