package ckpt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

// importSource returns a dump of n threads with list channels, forks and
// pending writes.
func importSource(t *testing.T, n int) []byte {
	t.Helper()
	src := newInspectStore(t)
	fillForExport(t, src)
	for i := range n {
		thread := fmt.Sprintf("imported-%03d", i)
		putChain(t, src, thread, "", 12) // enough for cp/ and wr/ to get pages of their own
		// A list channel: its segments come last in the thread's part of
		// the dump, often in a later batch than the thread's first.
		cfg := Config{ThreadID: thread, CheckpointNS: "lists"}
		for j := range 2 {
			var err error
			v := strconv.Itoa(j + 1)
			cfg, err = src.Put(context.Background(), cfg, Checkpoint{ChannelValues: map[string]any{"m": []any{"a", j}}, ChannelVersions: map[string]string{"m": v}}, nil, map[string]string{"m": v})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return export(t, src)
}

// existingStore creates a store file with threads of its own and returns
// its path and state.
func existingStore(t *testing.T) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "existing.ckpt")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	putChain(t, s, "keep", "", 4)
	putChain(t, s, "keep-too", "ns", 2)
	st := storeState(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, st
}

// checkFileUnchanged reopens the file at path and checks that it holds
// exactly the state want, that Verify is clean, and that bbolt's own page
// check finds every page reachable or free exactly once (no leaked pages).
func checkFileUnchanged(t *testing.T, path string, want []string, sorted bool) {
	t.Helper()
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	got := storeState(t, s)
	if sorted {
		slices.Sort(got)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the file changed: %d checkpoints, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Verify on a read-only open: no applier commits beside its page check.
	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Verify(context.Background(), VerifyOptions{})
	_ = s.Close()
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
	checkPagesClean(t, path)
}

// importWasPublished tells whether the file at path holds an import that
// published (its threads stay): it exists and, opened read-write (which
// undoes an unpublished import), holds thread "t1" of the dump.
func importWasPublished(t *testing.T, path string) bool {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return false
	}
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Thread(context.Background(), "t1")
	return err == nil
}

// checkPagesClean runs bbolt's consistency check on a closed file.
func checkPagesClean(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt page check: %v", err)
	}
}

// TestImportOfMalformedDumpLeavesFileAsItWas puts a malformed line at a
// random place of a dump, 20 times (the first 8 of them under -race, where
// the 20 took 31 s of a loaded CI run; CKPT_RACE_FULL=1 runs all 20): the
// import fails and the existing file is exactly as it was, Verify clean,
// no page leaked.
func TestImportOfMalformedDumpLeavesFileAsItWas(t *testing.T) {
	t.Parallel()
	dump := importSource(t, 30)
	lines := strings.SplitAfter(string(dump), "\n")
	rng := rand.New(rand.NewPCG(14, 4))
	ats := make([]int, raceRounds(t, 20, 8))
	for run := range ats {
		ats[run] = 1 + rng.IntN(len(lines)-2)
	}
	// The runs share nothing but the dump and the existing store they
	// copy (built once), so they run importWorkers at a time, as subtests
	// started from goroutines (see TestImportKilledOrInterruptedIsAllOrNothing).
	base, want := existingStore(t)
	runs := make(chan int)
	var wg sync.WaitGroup
	for range importWorkers {
		wg.Go(func() {
			for run := range runs {
				t.Run(fmt.Sprintf("run=%d", run), func(t *testing.T) {
					importMalformedRun(t, copyStore(t, base), want, lines, ats[run])
				})
			}
		})
	}
	for run := range ats {
		runs <- run
	}
	close(runs)
	wg.Wait()
}

// importMalformedRun imports the dump lines with a malformed line put in
// at line at into the store at path, which holds want: the import fails
// with ErrDump and leaves the file as it was.
func importMalformedRun(t *testing.T, path string, want, lines []string, at int) {
	t.Helper()
	bad := strings.Join(lines[:at], "") + "{\"kind\":\"value\",oops\n" + strings.Join(lines[at:], "")
	// Many batches committed before the bad line.
	s, err := Open(path, Options{Durability: NoSync, tuning: &tuning{importBatchRecords: 16}})
	if err != nil {
		t.Fatal(err)
	}
	// Apply every other batch to bbolt at once, so that batches and the
	// undo's deletions of the same threads meet both in one bbolt
	// transaction and in separate ones.
	batches := 0
	progress := func(int64) {
		if batches++; batches%2 == 1 {
			applyNow(t, s)
		}
	}
	if _, err := s.Import(context.Background(), strings.NewReader(bad), ImportOptions{Progress: progress}); !errors.Is(err, ErrDump) {
		t.Fatalf("import of a malformed dump (bad line at %d) = %v", at, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkFileUnchanged(t, path, want, false)
}

// TestImportChildProcess is the child process of
// TestImportKilledOrInterruptedIsAllOrNothing (this test binary, run with
// CKPT_IMPORT_CHILD set); on its own it does nothing.
func TestImportChildProcess(t *testing.T) {
	t.Parallel()
	if os.Getenv("CKPT_IMPORT_CHILD") == "" {
		t.Skip("the child of TestImportKilledOrInterruptedIsAllOrNothing")
	}
	runImportChild()
}

// runImportChild imports the dump at $CKPT_IMPORT_DUMP into the file at
// $CKPT_IMPORT_PATH with ImportFile, cancelled by SIGINT as a CLI would
// (signal.NotifyContext). It says "go" on stdout once it starts, and exits
// with the handler still installed: a SIGINT after the import is ignored,
// as a CLI that is about to exit would.
func runImportChild() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	f, err := os.Open(os.Getenv("CKPT_IMPORT_DUMP"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("go")
	if _, err := ImportFile(ctx, os.Getenv("CKPT_IMPORT_PATH"), f, Options{tuning: &tuning{importBatchRecords: 4}}, ImportOptions{}); err != nil { // many commits: a signal lands mid-import
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestImportKilledOrInterruptedIsAllOrNothing runs an import in a child
// process and kills it (SIGKILL) or interrupts it (SIGINT) at a random
// moment, 20 rounds each (8 under -race), into an existing file and into
// a new path: the file then holds either exactly what it held before or
// that plus the whole dump (the signal came after the end), Verify and
// bbolt's page check are clean; a new path holds no file unless the
// import finished. Under -race, as CI runs this package, 80 rounds took
// 81 s of a loaded run, and all 80 stopped the import mid-way;
// CKPT_RACE_FULL=1 runs the 20 under -race too.
func TestImportKilledOrInterruptedIsAllOrNothing(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs 80 child processes")
	}
	dump := importSource(t, 40)
	dir := t.TempDir()
	dumpPath := filepath.Join(dir, "dump.jsonl")
	if err := os.WriteFile(dumpPath, dump, 0o600); err != nil {
		t.Fatal(err)
	}
	// The state the dump alone reads back as.
	alone := filepath.Join(dir, "alone.ckpt")
	if _, err := ImportFile(context.Background(), alone, bytes.NewReader(dump), Options{Durability: NoSync}, ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	s, err := Open(alone, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	imported := storeState(t, s)
	_ = s.Close()
	union := func(a, b []string) []string {
		u := slices.Concat(a, b)
		slices.Sort(u)
		return u
	}
	// The existing store every "existing" round starts from, built once
	// and copied: building it under -race each round cost more than the
	// copy.
	base, before0 := existingStore(t)
	// The rounds share nothing (a file each), so they run importWorkers at
	// a time, each as a subtest started from a goroutine (parallel
	// subtests would wait for -test.parallel slots behind the package's
	// other tests). A round's random delay comes from its own generator.
	type round struct {
		sig      syscall.Signal
		existing bool
		n, seq   int
	}
	var (
		mu     sync.Mutex
		counts = map[string]int{}
		rounds = make(chan round)
		wg     sync.WaitGroup
	)
	for range importWorkers {
		wg.Go(func() {
			for r := range rounds {
				name := fmt.Sprintf("%v,existing=%v,round=%d", r.sig, r.existing, r.n)
				t.Run(name, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(14, uint64(r.seq)))
					path := filepath.Join(t.TempDir(), "new.ckpt")
					var before []string
					if r.existing {
						path, before = copyStore(t, base), before0
					}
					finished := importKilledRound(t, rng, r.sig, r.existing, path, before, dumpPath, dump, imported, union)
					mu.Lock()
					counts[fmt.Sprintf("%v finished=%v", r.sig, finished)]++
					mu.Unlock()
				})
			}
		})
	}
	seq := 0
	perCase := raceRounds(t, 20, 8)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		for _, existing := range []bool{true, false} {
			for n := range perCase {
				rounds <- round{sig, existing, n, seq}
				seq++
			}
		}
	}
	close(rounds)
	wg.Wait()
	t.Logf("outcomes: %v", counts)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		if counts[fmt.Sprintf("%v finished=false", sig)] < perCase/2 {
			t.Fatalf("too few rounds stopped mid-import (%v): the test does not test", counts)
		}
	}
}

// importWorkers is how many import children run at once.
const importWorkers = 4

// copyStore copies the closed store at path (its file and whatever lies
// beside it under the same name) into a new directory and returns the
// copy's path.
func copyStore(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	matches, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		copyFileIn(t, m, filepath.Join(dir, filepath.Base(m))) // file to file (wal_test.go says why)
	}
	return filepath.Join(dir, filepath.Base(path))
}

// importKilledRound runs one import child into path (an existing store
// holding before, or a new path), sends it sig after a random delay, and
// checks that the file holds all of the import or none of it. It returns
// whether the child finished the import.
func importKilledRound(t *testing.T, rng *rand.Rand, sig syscall.Signal, existing bool, path string, before []string, dumpPath string, dump []byte, imported []string, union func(a, b []string) []string) bool {
	t.Helper()
	cmd := exec.Command(testchild.Binary(), "-test.run=^TestImportChildProcess$")
	cmd.Env = append(os.Environ(), "CKPT_IMPORT_CHILD=1", "CKPT_IMPORT_PATH="+path, "CKPT_IMPORT_DUMP="+dumpPath,
		// The race detector's one-second sleep before a clean exit
		// (crash_test.go's childEnv says why it can go).
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
	_ = cmd.Process.Signal(sig)
	werr := cmd.Wait()
	finished := werr == nil
	if !finished {
		var ee *exec.ExitError
		if !errors.As(werr, &ee) {
			t.Fatal(werr)
		}
		if sig == syscall.SIGINT && ee.ExitCode() != 1 {
			t.Fatalf("interrupted import exited with %v: %s", werr, stderr.String())
		}
	}
	// A signal after the publishing transaction (the child was
	// closing the store) leaves the whole import: also fine.
	whole := finished || importWasPublished(t, path)
	switch {
	case existing && whole:
		checkFileUnchanged(t, path, union(before, imported), true)
	case existing:
		checkFileUnchanged(t, path, before, false)
	case whole:
		checkFileUnchanged(t, path, union(nil, imported), true)
	default:
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a failed import into a new path left a file there (%v)", err)
		}
		// A leftover of the killed run does not stand in the way.
		if _, err := ImportFile(context.Background(), path, bytes.NewReader(dump), Options{Durability: NoSync}, ImportOptions{}); err != nil {
			t.Fatalf("import after the failed one: %v", err)
		}
		checkFileUnchanged(t, path, union(nil, imported), true)
		if _, err := os.Stat(importTempPath(path)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the temporary file stayed behind")
		}
	}
	return finished
}
