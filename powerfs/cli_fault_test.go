//go:build linux

package powerfs

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// The fault hunt through the command line: a store is made on the mount
// (by a child, unfaulted), then the built ckpt binary runs one command on
// it with one call failing; it must exit 0, or non-zero with a message
// (no panic, no usage error); then a second process reopens the store
// (every acknowledged write there) and the power-cut images of every mark
// are checked, as in fault_test.go.

// cliCmd is one command of the hunt: the store its setup leaves (closed,
// or killed with its log live) and the command line run on it.
type cliCmd struct {
	sc   faultScenario
	args func(keys string) []string
}

// cliSetup writes two threads of Sync writes (a and b, three each) and,
// with dump, exports them beside the mount for import.
func cliSetup(l *life, dump bool) {
	for i := range 6 {
		l.trySave([]string{"a", "b"}[i%2], ckpt.Sync, 200*i)
	}
	if dump {
		f, err := os.Create(os.Getenv(childIn) + ".dump")
		if err == nil {
			_, err = l.s.Export(context.Background(), f, ckpt.ExportOptions{})
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			l.t.Fatalf("Export: %v", err)
		}
	}
}

var cliCmds = []cliCmd{
	{sc: faultScenario{name: "cli-gc", steps: func(l *life) { cliSetup(l, false); l.tryClose() }},
		args: func(string) []string { return []string{"gc", "s.db", "--keep-last", "1"} }},
	{sc: faultScenario{name: "cli-compact", steps: func(l *life) { cliSetup(l, false); l.tryClose() }},
		args: func(string) []string { return []string{"compact", "s.db"} }},
	{sc: faultScenario{name: "cli-import", steps: func(l *life) { cliSetup(l, true); l.tryClose() }},
		args: func(keys string) []string { return []string{"import", "imp.db", filepath.Join(keys, "in.json.dump")} }},
	{sc: faultScenario{name: "cli-rekey", opts: sealedFirst, later: sealedLater, steps: func(l *life) { cliSetup(l, false); l.tryClose() }},
		args: func(keys string) []string {
			return []string{"rekey", "s.db", "--key-file", filepath.Join(keys, "2.key"), "--key-file", filepath.Join(keys, "1.key")}
		}},
	// Killed with its log live, after ApplyLog, and the log removed:
	// every Open refuses the file until recover clears its mark.
	{sc: faultScenario{name: "cli-recover", kill: true, steps: func(l *life) {
		cliSetup(l, false)
		l.tryDo("ApplyLog", func(ctx context.Context, s *ckpt.Store) error { return s.ApplyLog(ctx) })
		if err := os.Remove(l.path("s.db-wal")); err != nil {
			l.t.Fatal(err)
		}
		d, err := os.Open(l.dir)
		if err == nil {
			err = errors.Join(d.Sync(), d.Close())
		}
		if err != nil {
			l.t.Fatal(err)
		}
		l.Info["logless"] = l.Mark + 1
		l.step("log removed")
	}},
		args: func(string) []string { return []string{"recover", "s.db"} }},
}

func cliScenario(name string) *faultScenario {
	for i := range cliCmds {
		if cliCmds[i].sc.name == name {
			return &cliCmds[i].sc
		}
	}
	for i := range cliSetups {
		if cliSetups[i].sc.name == name {
			return &cliSetups[i].sc
		}
	}
	return nil
}

// cliCommand runs bin with args in dir, the mount. Not through cmd.Dir:
// Go's child changes into the directory between its vfork and its exec,
// while the forking thread still holds its P (a raw syscall, no safe
// point); the kernel sends that chdir's FUSE request to this process,
// and if a GC starts then, its stop-the-world waits for that P while the
// goroutine that read the request waits for the GC: the child never
// execs (a default run hung 7 minutes in cli-compact's
// fsync-log-eio-1, the forking thread in kernel_clone, the child in
// fuse_access, a goroutine runnable with the request read, the GC in
// forEachP). A shell changes directory after its own exec, in a process
// of its own.
func cliCommand(ctx context.Context, dir, bin string, args []string) *exec.Cmd {
	return exec.CommandContext(ctx, "sh", append([]string{"-c", `cd "$0" && exec "$@"`, dir, bin}, args...)...)
}

// buildCLI builds cmd/ckpt once per test binary run: ten tests run the
// same binary, and each go build relinked it (a few CPU seconds each,
// minutes in CI's niced run beside the -race one). TestMain removes it.
func buildCLI(t *testing.T) string {
	t.Helper()
	cli.once.Do(func() {
		dir, err := os.MkdirTemp("", "powerfs-ckpt-")
		if err != nil {
			cli.err = err
			return
		}
		cli.dir = dir
		bin := filepath.Join(dir, "ckpt")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/ckpt")
		cmd.Dir = ".." // the root's go.work joins cmd/ckpt
		if b, err := cmd.CombinedOutput(); err != nil {
			cli.err = fmt.Errorf("go build ./cmd/ckpt: %w\n%s", err, b)
			return
		}
		cli.bin = bin
	})
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	return cli.bin
}

// cli is the binary buildCLI built (or why it could not), for every
// test of the run.
var cli struct {
	once     sync.Once
	dir, bin string
	err      error
}

// TestMain: the tests that mount, and the fault runs of a sweep, run in
// parallel (t.Parallel). Each has its own mount, record and children, and
// each mostly waits: on its children, whose every file call is a FUSE
// round trip through this process, and on the fsyncs of the images it
// opens; one at a time kept one core of two busy, and in CI (niced beside
// the -race run) each round trip waits for the scheduler too. So, unless
// -test.parallel is given, twice GOMAXPROCS (at least 4) run at once.
// The store never maps a file of a mount in this process (life),
// whichever test's mount it is.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		if err := flag.Set("test.parallel", strconv.Itoa(max(4, 2*runtime.GOMAXPROCS(0)))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	code := m.Run()
	if cli.dir != "" {
		os.RemoveAll(cli.dir)
	}
	os.Exit(code)
}

// cliResult is what cliRun saw of the command: the call its fault
// failed (FaultHit), its exit code and stderr, and the directory of the
// keys and the dump (outside the mount).
type cliResult struct {
	hit    string
	code   int
	stderr string
	keys   string
}

// cliRun: setup in a child, the command with f armed, the reopen in a
// child; the life to check.
func cliRun(t *testing.T, bin string, c cliCmd, f Fault) (*life, []int, map[[2]int]int) {
	t.Helper()
	// A command that made fewer than f.N such calls (their count varies
	// a little from run to run) runs again, as in faultRun.
	for attempt := 1; ; attempt++ {
		l, marks, counts, struck := cliRunOnce(t, bin, c, f)
		if struck {
			return l, marks, counts
		}
		made := counts[[2]int{int(f.Call), int(f.Target)}]
		if attempt == 3 {
			t.Skipf("%s, %+v: the fault never struck in %d runs: the last made %d such calls", c.sc.name, f, attempt, made)
		}
		t.Logf("%s, %+v: the fault never struck: this run made %d such calls; again", c.sc.name, f, made)
	}
}

// cliRunOnce is one run of cliRun; struck is false (and the rest but
// counts nil) if f never struck.
func cliRunOnce(t *testing.T, bin string, c cliCmd, f Fault) (_ *life, _ []int, _ map[[2]int]int, struck bool) {
	t.Helper()
	fs := Mount(t)
	tmp := t.TempDir()
	for _, id := range []uint32{1, 2} {
		k := key(id)
		line := fmt.Sprintf("%d %s\n", id, hex.EncodeToString(k.Secret[:]))
		if err := os.WriteFile(filepath.Join(tmp, strconv.Itoa(int(id))+".key"), []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	child := func(phase, in, out string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPowerFaultChild$", "-test.count=1", "-test.timeout=5m")
		cmd.Env = append(os.Environ(), childDir+"="+fs.Dir, childOut+"="+out, childIn+"="+in,
			faultScenEnv+"="+c.sc.name, faultPhaseEnv+"="+phase)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s, %+v: the %s process: %v\n%s", c.sc.name, f, map[string]string{"1": "setup", "2": "reopening"}[phase], err, b)
		}
	}
	in1, out1 := filepath.Join(tmp, "in.json"), filepath.Join(tmp, "1.json")
	child("1", in1, out1)
	l := &life{t: t, dir: fs.Dir, rec: fs.Record, opts: c.sc.reopenOpts()}
	b, err := os.ReadFile(out1)
	if err == nil {
		err = json.Unmarshal(b, &l.lifeData)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Errs) != 0 {
		t.Fatalf("setup: %v", l.Errs)
	}

	fs.Arm(f)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := cliCommand(ctx, fs.Dir, bin, c.args(tmp))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	counts := map[[2]int]int{}
	for ci := range 2 {
		for g := range 4 {
			counts[[2]int{ci, g}] = fs.Calls(Call(ci), Target(g))
		}
	}
	if f.N != 0 && fs.FaultHits() != 1 {
		return nil, nil, counts, false
	}
	fs.Disarm()
	t.Logf("the fault failed %s; ckpt %s: %v\n%s%s", fs.FaultHit(), strings.Join(c.args("TMP"), " "), runErr, stdout.Bytes(), stderr.Bytes())
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](runErr); ok {
		code = ee.ExitCode()
	} else if runErr != nil {
		t.Fatalf("ckpt %s: %v", c.args(tmp)[0], runErr)
	}
	msg := strings.TrimSpace(stderr.String())
	switch {
	case strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine "):
		t.Errorf("ckpt %s panicked (exit %d):\n%s", c.args(tmp)[0], code, msg)
	case code != 0 && (msg == "" || code == 2):
		t.Errorf("ckpt %s failed with exit %d and no clear message: %q", c.args(tmp)[0], code, msg)
	case f.N == 0 && code != 0:
		t.Errorf("ckpt %s failed without a fault (exit %d): %s", c.args(tmp)[0], code, msg)
	}
	if code != 0 {
		l.Errs = append(l.Errs, fmt.Sprintf("ckpt %s: exit %d: %s", c.args(tmp)[0], code, msg))
	}
	l.cli = cliResult{hit: fs.FaultHit(), code: code, stderr: msg, keys: tmp}
	switch c.args(tmp)[0] {
	case "gc": // the older checkpoints may be gone from the command on
		newest := map[string]*ack{}
		for _, a := range l.Acks {
			newest[a.Thread] = a
		}
		for _, a := range l.Acks {
			if newest[a.Thread] != a {
				a.Until = l.Mark + 1
			}
		}
	case "import":
		if code == 0 {
			for _, a := range l.Acks {
				if a.File == "s.db" {
					c := *a
					c.File, c.From = "imp.db", l.Mark+1
					l.Acks = append(l.Acks, &c)
				}
			}
		}
	}
	l.step("ckpt " + c.args(tmp)[0])
	// The marks whose images must open: a file without its log is
	// refused until a recover succeeded (run again without the fault
	// when it failed: a failed recover must leave one that works).
	marks := slices.Clone(l.Marks)
	if from := l.Info["logless"]; from != 0 {
		if code != 0 {
			cmd := cliCommand(ctx, fs.Dir, bin, c.args(tmp))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("ckpt recover again, without the fault: %v\n%s", err, out)
			}
			l.step("ckpt recover again")
		}
		marks = nil
		for _, m := range l.Marks {
			if m < from || m == l.Mark {
				marks = append(marks, m)
			}
		}
	}
	before := len(l.Marks)
	in2, out2 := filepath.Join(tmp, "in2.json"), filepath.Join(tmp, "2.json")
	b, err = json.Marshal(l.lifeData)
	if err == nil {
		err = os.WriteFile(in2, b, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	child("2", in2, out2)
	b, err = os.ReadFile(out2)
	if err == nil {
		err = json.Unmarshal(b, &l.lifeData)
	}
	if err != nil {
		t.Fatal(err)
	}
	return l, append(marks, l.Marks[before:]...), counts, true
}

// TestPowerFaultCLI: each command once without a fault (to count its
// calls), then with one fault of one kind drawn (seeded) among
// those it makes calls of, at a point drawn; CKPT_POWERFS_CLI=all runs
// every kind, and CKPT_POWERFS_FAULTS widens the points as in the sweep.
func TestPowerFaultCLI(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	seed := uint64(209)
	if v, err := strconv.ParseUint(os.Getenv("CKPT_POWERFS_SEED"), 10, 64); err == nil {
		seed ^= v << 8
	}
	for ci, c := range cliCmds {
		t.Run(c.sc.name, func(t *testing.T) {
			t.Parallel()
			var counts map[[2]int]int
			t.Run("none", func(t *testing.T) {
				l, marks, n := cliRun(t, bin, c, Fault{})
				counts = n
				l.checkMarks(seed, 1, marks)
			})
			if counts == nil {
				return
			}
			rng := rand.New(rand.NewPCG(seed, uint64(ci)))
			var kinds []Fault
			for _, k := range faultKinds {
				if counts[[2]int{int(k.Call), int(k.Target)}] > 0 {
					kinds = append(kinds, k)
				}
			}
			if os.Getenv("CKPT_POWERFS_CLI") != "all" {
				rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
				kinds = kinds[:min(1, len(kinds))]
			}
			runs, failed, images := 0, 0, 0
			for _, k := range kinds {
				for _, n := range sweepPoints(counts[[2]int{int(k.Call), int(k.Target)}], rng) {
					f := k
					f.N = n
					t.Run(f.name(), func(t *testing.T) {
						l, marks, _ := cliRun(t, bin, c, f)
						runs++
						if len(l.Errs) > 0 {
							failed++
						}
						for _, e := range l.Errs {
							t.Log(e)
						}
						images += l.checkMarks(seed^uint64(n), 1, marks)
					})
				}
			}
			t.Logf("%s: calls %v; %d fault runs, %d failed the command, %d images", c.sc.name, counts, runs, failed, images)
		})
	}
}

// TestPowerFaultCLIRecoverMetaFsync: ckpt recover clears the mark of a
// file whose log was removed, and the fsync after bbolt wrote that
// commit's meta page fails: recover exits 1. The meta page stays in the
// page cache, never durable, so recover run again reads the mark cleared
// there, finds nothing to do and exits 0; a power cut after it brings
// back the file saying its log is live, which Open refuses.
func TestPowerFaultCLIRecoverMetaFsync(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	for _, c := range cliCmds {
		if c.sc.name != "cli-recover" {
			continue
		}
		for _, n := range []int{2} { // the fsync after the meta page's write
			f := Fault{Call: CallFsync, Target: TargetDB, N: n, Errno: syscall.EIO}
			t.Run(f.name(), func(t *testing.T) {
				l, marks, _ := cliRun(t, bin, c, f)
				if len(l.Errs) == 0 {
					t.Fatalf("ckpt recover did not fail")
				}
				l.checkMarks(209, 5, marks)
			})
		}
	}
}
