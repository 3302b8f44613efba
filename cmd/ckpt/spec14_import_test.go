package main

// Issue 14, held-out spec: "Import is all or nothing", through the built
// binary. `ckpt import` killed (SIGKILL) and interrupted (SIGINT) at random
// moments into an existing store and into a new path; a malformed line at
// a random position; a dump naming a thread the store already holds; a
// file size limit (RLIMIT_FSIZE) hit mid-import. Each time: the file's
// threads and values exactly as before (or no file), `ckpt verify` clean,
// bbolt's page check clean, no temporary file left.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

var (
	spec14Once sync.Once
	spec14Fix  struct {
		dir           string // existing.db, source.db, dump.jsonl, union.db, alone.db
		before, union []string
		alone         []string
		importTook    time.Duration
		err           error
	}
)

// spec14State is every checkpoint of the store at path, each with its
// values' bytes, versions, metadata and pending writes, sorted.
func spec14State(path string) ([]string, error) {
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	var out []string
	for tp, err := range s.List(context.Background(), ckpt.ListOptions{}) {
		if err != nil {
			return nil, err
		}
		var b strings.Builder
		fmt.Fprintf(&b, "%+v %v %v", tp.Config, tp.Checkpoint.ChannelVersions, tp.Metadata)
		chs := make([]string, 0, len(tp.Checkpoint.ChannelValues))
		for ch := range tp.Checkpoint.ChannelValues {
			chs = append(chs, ch)
		}
		sort.Strings(chs)
		for _, ch := range chs {
			fmt.Fprintf(&b, " %s=%x", ch, []byte(tp.Checkpoint.ChannelValues[ch].(ckpt.Raw)))
		}
		for _, w := range tp.PendingWrites {
			fmt.Fprintf(&b, " w:%s/%d/%s=%x", w.TaskID, w.Idx, w.Channel, []byte(w.Value))
		}
		out = append(out, b.String())
	}
	sort.Strings(out)
	return out, nil
}

// spec14Fill writes threads named prefix-NNN: two namespaces, a list
// channel appended each step, a map, pending writes.
func spec14Fill(path, prefix string, threads, steps int) error {
	ctx := context.Background()
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		return err
	}
	for i := range threads {
		for _, ns := range []string{"", "tools:1"} {
			cfg := ckpt.Config{ThreadID: fmt.Sprintf("%s-%03d", prefix, i), CheckpointNS: ns}
			var msgs []any
			for j := range steps {
				msgs = append(msgs, fmt.Sprintf("%s message %d of %d %s", prefix, j, i, strings.Repeat("z", j*7)))
				v := fmt.Sprint(j + 1)
				cfg, err = s.Put(ctx, cfg, ckpt.Checkpoint{
					ChannelValues:   map[string]any{"messages": msgs, "plan": map[string]any{"step": j, "who": prefix}},
					ChannelVersions: map[string]string{"messages": v, "plan": v},
				}, ckpt.Metadata{"step": j, "source": "loop"}, map[string]string{"messages": v, "plan": v})
				if err != nil {
					_ = s.Close()
					return err
				}
				if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "messages", Value: j}, {Channel: "plan", Value: "p"}}, fmt.Sprintf("task-%d", j), "node"); err != nil {
					_ = s.Close()
					return err
				}
			}
		}
	}
	return s.Close()
}

// spec14Fixture builds, once: existing.db (threads of its own), a dump of
// 120 other threads, and the states the existing file and a new file read
// back as after a whole import.
func spec14Fixture(t *testing.T) string {
	t.Helper()
	spec14Once.Do(func() {
		f := &spec14Fix
		f.dir, f.err = os.MkdirTemp("", "ckpt-spec14-")
		if f.err != nil {
			return
		}
		run := func(args ...string) error {
			cmd := exec.Command(binPath, args...)
			cmd.Dir = f.dir
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("ckpt %v: %v\n%s", args, err, out)
			}
			return nil
		}
		steps := []func() error{
			func() error { return spec14Fill(filepath.Join(f.dir, "existing.db"), "mine", 6, 4) },
			func() error { return spec14Fill(filepath.Join(f.dir, "source.db"), "imp", 120, 6) },
			func() error { return run("export", "source.db", "-o", "dump.jsonl") },
			func() (err error) { f.before, err = spec14State(filepath.Join(f.dir, "existing.db")); return err },
			func() error {
				if err := copyFileErr(filepath.Join(f.dir, "existing.db"), filepath.Join(f.dir, "union.db")); err != nil {
					return err
				}
				start := time.Now()
				err := run("import", "union.db", "dump.jsonl")
				f.importTook = time.Since(start)
				return err
			},
			func() (err error) { f.union, err = spec14State(filepath.Join(f.dir, "union.db")); return err },
			func() error { return run("import", "alone.db", "dump.jsonl") },
			func() (err error) { f.alone, err = spec14State(filepath.Join(f.dir, "alone.db")); return err },
		}
		for _, step := range steps {
			if f.err = step(); f.err != nil {
				return
			}
		}
	})
	if spec14Fix.err != nil {
		t.Fatal(spec14Fix.err)
	}
	if len(spec14Fix.union) != len(spec14Fix.before)+len(spec14Fix.alone) {
		t.Fatalf("union %d checkpoints, existing %d + dump %d", len(spec14Fix.union), len(spec14Fix.before), len(spec14Fix.alone))
	}
	return spec14Fix.dir
}

func copyFileErr(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// spec14PageCheck runs bbolt's own consistency check on a closed file.
func spec14PageCheck(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	}); err != nil {
		t.Fatalf("bbolt page check of %s: %v", path, err)
	}
}

// spec14CheckAfter checks the file at path after an import that did not
// finish (whole=false: it must read exactly as want) or that did (the
// union of want and the dump), with `ckpt verify` and bbolt's page check
// clean, and no file in dir but the names allowed.
func spec14CheckAfter(t *testing.T, dir, path string, want []string, allowed ...string) {
	t.Helper()
	// The CLI first, as a user would right after the failure.
	if r := runIn(t, dir, "", "verify", filepath.Base(path)); r.code != 0 {
		t.Fatalf("ckpt verify after the import:\n%s", r)
	}
	got, err := spec14State(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s holds %d checkpoints, want %d (as before, or before plus the whole dump)", path, len(got), len(want))
	}
	spec14PageCheck(t, path)
	for _, name := range dirNames(t, dir) {
		if !slices.Contains(allowed, name) && !strings.HasSuffix(name, ".jsonl") {
			t.Fatalf("a file was left in the directory: %s (all: %v)", name, dirNames(t, dir))
		}
	}
}

// TestSpec14ImportKilledOrInterruptedIsAllOrNothing: SIGKILL and SIGINT,
// 8 rounds each by default, into an existing store and into a new path,
// at a moment drawn from the whole length of an import. 20 rounds each
// (80 imports) took 118 s of a 726 s run of this package, and 76 of them
// stopped the import mid-way (the check at the end wants half of each
// signal's); CKPT_SPEC14_KILL_ROUNDS=N runs N of each for a hunt.
func TestSpec14ImportKilledOrInterruptedIsAllOrNothing(t *testing.T) {
	t.Parallel()
	fix := spec14Fixture(t)
	rounds := 8
	if testing.Short() {
		rounds = 5
	}
	rounds = envRounds("CKPT_SPEC14_KILL_ROUNDS", rounds)
	// The moment of the signal is drawn from the length of a whole import
	// as measured: first the fixture's, then the shortest of the rounds
	// that finished before their signal. The fixture's ran beside other
	// tests and may be far longer than the rounds' (CI: 4.6 s, and 25 of
	// 40 killed imports had finished first, too few stopped mid-import).
	clock := &importClock{took: spec14Fix.importTook}
	type round struct {
		sig      syscall.Signal
		existing bool
		n        int
	}
	var all []round
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		for _, existing := range []bool{true, false} {
			for n := range rounds {
				all = append(all, round{sig, existing, n})
			}
		}
	}
	var mu sync.Mutex
	stopped := map[string]int{}
	work := make(chan round)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for r := range work {
				t.Run(fmt.Sprintf("%v,existing=%v,%d", r.sig, r.existing, r.n), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(r.sig), uint64(r.n)*2+map[bool]uint64{true: 1}[r.existing]))
					whole := spec14KillRound(t, fix, rng, r.sig, r.existing, clock)
					mu.Lock()
					stopped[fmt.Sprintf("%v whole=%v", r.sig, whole)]++
					mu.Unlock()
				})
			}
		})
	}
	for _, r := range all {
		work <- r
	}
	close(work)
	wg.Wait()
	t.Logf("import took %v whole (the fixture's: %v); outcomes %v", clock.length(), spec14Fix.importTook, stopped)
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGINT} {
		if stopped[fmt.Sprintf("%v whole=false", sig)] < rounds {
			t.Fatalf("only %v stopped mid-import: the rounds do not test", stopped)
		}
	}
}

// importClock is how long a whole import takes, as far as the rounds
// know: the shortest seen.
type importClock struct {
	mu   sync.Mutex
	took time.Duration
}

func (c *importClock) length() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.took
}

// moment draws when to signal an import: up to 10% past its length.
func (c *importClock) moment(rng *rand.Rand) time.Duration {
	return time.Duration(rng.Int64N(int64(c.length()) * 11 / 10))
}

// finished notes an import that ended before its signal, in d.
func (c *importClock) finished(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.took = min(c.took, d)
}

// spec14KillRound runs one import and signals it; it returns whether the
// import finished (the file holds the whole dump).
func spec14KillRound(t *testing.T, fix string, rng *rand.Rand, sig syscall.Signal, existing bool, clock *importClock) bool {
	dir := t.TempDir()
	if err := copyFileErr(filepath.Join(fix, "dump.jsonl"), filepath.Join(dir, "dump.jsonl")); err != nil {
		t.Fatal(err)
	}
	name, before := "new.db", []string(nil)
	if existing {
		name, before = "existing.db", spec14Fix.before
		if err := copyFileErr(filepath.Join(fix, "existing.db"), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, name)
	cmd := exec.Command(binPath, "import", name, "dump.jsonl")
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	began := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(clock.moment(rng))
	_ = cmd.Process.Signal(sig)
	werr := cmd.Wait()
	finished := werr == nil
	if finished {
		clock.finished(time.Since(began))
	}
	if !finished && strings.Contains(out.String(), "goroutine ") {
		t.Fatalf("stack trace:\n%s", out.String())
	}
	if sig == syscall.SIGINT && !finished {
		// Exit 130, or, for a signal before the process set up its
		// handler, ended by the signal itself.
		var ee *exec.ExitError
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !errors.As(werr, &ee) || ee.ExitCode() != exitInterrupted && !(ws.Signaled() && ws.Signal() == syscall.SIGINT) {
			t.Fatalf("interrupted import: %v, want exit %d\n%s", werr, exitInterrupted, out.String())
		}
	}
	_, statErr := os.Stat(path)
	switch {
	case existing:
		// Whole only if it finished, or the signal came after the import
		// was published: either way all of it or none.
		got, err := spec14State(path)
		if err != nil {
			t.Fatal(err)
		}
		whole := slices.Equal(got, spec14Fix.union)
		want := before
		if whole {
			want = spec14Fix.union
		} else if finished {
			t.Fatalf("the import succeeded but the file does not hold it:\n%s", out.String())
		}
		spec14CheckAfter(t, dir, path, want, name, name+"-wal")
		return whole
	case statErr == nil:
		spec14CheckAfter(t, dir, path, spec14Fix.alone, name, name+"-wal")
		return true
	default:
		if finished {
			t.Fatalf("the import succeeded but left no file:\n%s", out.String())
		}
		// A killed process cleans nothing up; an interrupted one does.
		if sig == syscall.SIGINT {
			if names := dirNames(t, dir); !slices.Equal(names, []string{"dump.jsonl"}) {
				t.Fatalf("an interrupted import into a new path left %v", names)
			}
		}
		// The next import is not in the way of a leftover, and leaves
		// none itself.
		if r := runIn(t, dir, "", "import", name, "dump.jsonl"); r.code != 0 {
			t.Fatalf("import after the stopped one:\n%s", r)
		}
		spec14CheckAfter(t, dir, path, spec14Fix.alone, name, name+"-wal")
		return false
	}
}

// TestSpec14ImportOfMalformedDumpChangesNothing: 8 dumps by default, each
// with one line damaged at a random position (a line cut short, a line of
// garbage, a record of an unknown kind, a line removed: each kind twice),
// into the existing store and into a new path: the import fails, the store
// reads as before (no new file), verify and the page check clean. 20 dumps
// took 164 s of a 726 s run of this package; CKPT_SPEC14_MALFORMED_RUNS=N
// runs N (the same seed: the first 8 are these).
func TestSpec14ImportOfMalformedDumpChangesNothing(t *testing.T) {
	t.Parallel()
	fix := spec14Fixture(t)
	dump, err := os.ReadFile(filepath.Join(fix, "dump.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(dump), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	rng := rand.New(rand.NewPCG(14, 20))
	runs := 8
	if testing.Short() {
		runs = 6
	}
	runs = envRounds("CKPT_SPEC14_MALFORMED_RUNS", runs)
	for run := range runs {
		at := 1 + rng.IntN(len(lines)-1)
		bad := slices.Clone(lines)
		var how string
		switch run % 4 {
		case 0:
			how = "cut short"
			bad[at] = bad[at][:len(bad[at])/2] + "\n"
		case 1:
			how = "garbage"
			bad = slices.Insert(bad, at, "\x00\xff not json at all\n")
		case 2:
			how = "unknown kind"
			bad = slices.Insert(bad, at, `{"kind":"nonsense","thread":"imp-000"}`+"\n")
		case 3:
			how = "line removed"
			bad = slices.Delete(bad, at, at+1)
		}
		for _, existing := range []bool{true, false} {
			t.Run(fmt.Sprintf("run=%d,%s,line=%d,existing=%v", run, how, at, existing), func(t *testing.T) {
				dir := t.TempDir()
				if err := os.WriteFile(filepath.Join(dir, "bad.jsonl"), []byte(strings.Join(bad, "")), 0o600); err != nil {
					t.Fatal(err)
				}
				name := "new.db"
				if existing {
					name = "existing.db"
					if err := copyFileErr(filepath.Join(fix, name), filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
				}
				size := spec14Size(t, filepath.Join(dir, name))
				r := runIn(t, dir, "", "import", name, "bad.jsonl")
				if r.code == 0 {
					if how == "line removed" && !strings.Contains(lines[at], `"kind"`) {
						t.Skip("the removed line carried no record")
					}
					t.Fatalf("import of a dump with a line %s at %d succeeded:\n%s", how, at, r)
				}
				if strings.Contains(r.stderr, "goroutine ") {
					t.Fatalf("stack trace:\n%s", r)
				}
				if !existing {
					if names := dirNames(t, dir); !slices.Equal(names, []string{"bad.jsonl"}) {
						t.Fatalf("a failed import into a new path left %v", names)
					}
					return
				}
				spec14CheckAfter(t, dir, filepath.Join(dir, name), spec14Fix.before, name, name+"-wal")
				// Pages the import took are free again, not leaked: a file
				// that grew is only free space (the page check proves it),
				// and another import of the whole dump fits in it or grows
				// it as much as into the original file.
				if grown := spec14Size(t, filepath.Join(dir, name)) - size; grown > 8<<20 {
					t.Fatalf("the file grew by %d bytes in a failed import", grown)
				}
			})
		}
	}
}

func spec14Size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestSpec14ImportOfAThreadTheStoreHoldsChangesNothing: a dump whose last
// thread is one the store already holds (and a dump holding one thread
// twice) is refused whole: none of its other threads stay.
func TestSpec14ImportOfAThreadTheStoreHoldsChangesNothing(t *testing.T) {
	t.Parallel()
	fix := spec14Fixture(t)
	dir := t.TempDir()
	if err := copyFileErr(filepath.Join(fix, "existing.db"), filepath.Join(dir, "existing.db")); err != nil {
		t.Fatal(err)
	}
	// A dump of the whole dump's threads plus one of the store's own
	// (mine-005 sorts after imp-*): written by exporting a store holding
	// both.
	both := filepath.Join(dir, "both.db")
	if err := copyFileErr(filepath.Join(fix, "union.db"), both); err != nil {
		t.Fatal(err)
	}
	ok(t, dir, "export", "both.db", "-o", "clash.jsonl")
	_ = os.Remove(both)
	r := runIn(t, dir, "", "import", "existing.db", "clash.jsonl")
	if r.code == 0 {
		t.Fatalf("import of threads the store holds succeeded:\n%s", r)
	}
	spec14CheckAfter(t, dir, filepath.Join(dir, "existing.db"), spec14Fix.before, "existing.db", "existing.db-wal")
	// One thread twice in one dump, into a new path.
	one := ok(t, dir, "export", "existing.db", "mine-002").stdout
	if err := os.WriteFile(filepath.Join(dir, "twice.jsonl"), []byte(one+one), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runIn(t, dir, "", "import", "twice.db", "twice.jsonl")
	if r.code == 0 {
		t.Fatalf("import of a dump holding one thread twice succeeded:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "twice.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed import created twice.db")
	}
	spec14CheckAfter(t, dir, filepath.Join(dir, "existing.db"), spec14Fix.before, "existing.db", "existing.db-wal")
}

// TestSpec14ImportHittingTheFileSizeLimitChangesNothing: the import runs
// under RLIMIT_FSIZE (prlimit), set a little above the existing file's
// size, so its writes fail part way: the existing file reads as before,
// verify and the page check clean; into a new path, no file. An import
// that fit in the log, whose Close alone found no room to apply it,
// succeeded: it exits 0 with a warning, and the file holds all of it.
// (On 530d970 it exited 1, "file resize error" with no ErrDiskFull, and
// the next Open applied the whole import.)
func TestSpec14ImportHittingTheFileSizeLimitChangesNothing(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit")
	}
	fix := spec14Fixture(t)
	existingSize := spec14Size(t, filepath.Join(fix, "existing.db"))
	for _, c := range []struct {
		name  string
		limit int64
	}{
		{"existing.db", existingSize + 256<<10},
		{"existing.db", existingSize + 2<<20},
		{"new.db", 256 << 10},
		{"new.db", 1 << 20},
	} {
		t.Run(fmt.Sprintf("%s,limit=%d", c.name, c.limit), func(t *testing.T) {
			dir := t.TempDir()
			if err := copyFileErr(filepath.Join(fix, "dump.jsonl"), filepath.Join(dir, "dump.jsonl")); err != nil {
				t.Fatal(err)
			}
			if c.name == "existing.db" {
				if err := copyFileErr(filepath.Join(fix, c.name), filepath.Join(dir, c.name)); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command(prlimit, fmt.Sprintf("--fsize=%d", c.limit), binPath, "import", c.name, "dump.jsonl")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if bytes.Contains(out, []byte("goroutine ")) {
				t.Fatalf("stack trace:\n%s", out)
			}
			if err == nil {
				// The import fit in the log, and only Close could not apply
				// it to the file: acknowledged, so it must all be there
				// (the next Open applies the log), with the warning.
				if c.name == "new.db" || !bytes.Contains(out, []byte("warning: ")) || !bytes.Contains(out, []byte("disk full")) {
					t.Fatalf("the import fit under the limit of %d bytes: the test does not test\n%s", c.limit, out)
				}
				spec14CheckAfter(t, dir, filepath.Join(dir, c.name), spec14Fix.union, c.name, c.name+"-wal")
				return
			}
			if c.name == "new.db" {
				for _, n := range dirNames(t, dir) {
					if n != "dump.jsonl" {
						t.Fatalf("a failed import into a new path left %s\n%s", n, out)
					}
				}
				return
			}
			spec14CheckAfter(t, dir, filepath.Join(dir, c.name), spec14Fix.before, c.name, c.name+"-wal")
		})
	}
}
