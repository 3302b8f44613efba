//go:build linux

package ckpt_test

// h246: the strace fault hunt of h172 (h172_strace_linux_test.go) on an
// encrypted store in the middle of Rekey. The parent seeds the file with
// a thread k0 sealed under key 1 (outside strace); the child opens it with
// keys 2 and 1 (with the log, or NoWAL by turns) and runs Rekey, ListIDs,
// Backup into a file and Compact, twice, beside the Sync, NoSync and
// Async writers of h172's workload,
// while strace fails one system call class (EIO, ENOSPC) or kills the
// child (SIGKILL) at its K-th call. The checks are h172's oracle, reopened
// with both keys (every acknowledged write exact, nothing failed shows,
// fail-stop, Verify clean, the store writes on, a backup that returned nil
// holds what was acknowledged before it began), plus: once a Rekey
// returned nil the newest key alone opens all of it, and a ListIDs that
// returned no error listed exactly the seeded ids of k0.
// CKPT_H246_SEED, CKPT_H246_ROUNDS (default 6, 3 under -race).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

// h246SeedSteps is how many checkpoints of k0 are sealed under key 1: with
// their pending writes more records than one of Rekey's transactions
// (256) takes, so a fault can land between two of them.
const h246SeedSteps = 600

// h172Opts is the Options a child of mode opens its store with, and the
// parent reopens it with.
func h172Opts(mode string) ckpt.Options {
	if !strings.HasPrefix(mode, "rekey") {
		return ckpt.Options{}
	}
	// "rekey-nowal": every commit, Rekey's too, straight into bbolt.
	return ckpt.Options{NoWAL: mode == "rekey-nowal", Encryption: &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(2), rekeyKey(1)}}}
}

// h246Seed writes k0 under key 1 alone at path (modes "rekey" and
// "rekey-nowal"; nothing otherwise) and returns what it wrote as report
// lines.
func h246Seed(t *testing.T, mode, path string) []h172Line {
	t.Helper()
	if !strings.HasPrefix(mode, "rekey") {
		return nil
	}
	ctx := context.Background()
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	var ls []h172Line
	seq := int64(0)
	add := func(kind, th string, i int, rest string) {
		seq++
		ls = append(ls, h172Line{kind: kind, thread: th, i: i, rest: rest, seq: seq})
	}
	for i := range h246SeedSteps {
		add("B", "k0", i, "")
		id, err := s.Save(ctx, "k0", h172State("k0", i), ckpt.Metadata{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		add("A", "k0", i, id)
		add("B", "k0/pw", i, "")
		if err := s.PutWrites(ctx, ckpt.Config{ThreadID: "k0", CheckpointID: id},
			[]ckpt.Write{{Channel: "w", Value: h172PW("k0", i)}}, "t", ""); err != nil {
			t.Fatal(err)
		}
		add("WA", "k0", i, "")
	}
	if err := s.Close(); err != nil { // fsyncs what NoSync left
		t.Fatal(err)
	}
	return ls
}

// h246RekeyMaint is the maintenance of mode "rekey" (h172Child): Rekey,
// ListIDs of k0, Backup into bk<k>.db and Compact, twice. A ListIDs
// without an error that lists other than the seeded count of k0's ids
// reports "err wrong: ...".
func h246RekeyMaint(ctx context.Context, s *ckpt.Store, path string, r *h172Report) {
	dir := filepath.Dir(path)
	for k := range 2 {
		do := r.maintStep(k)
		do("rekey", func() error {
			_, err := s.Rekey(ctx)
			return err
		})
		do("listids", func() error {
			var ids []string
			for cfg, err := range s.ListIDs(ctx, ckpt.ListOptions{ThreadID: "k0"}) {
				if err != nil {
					return err
				}
				ids = append(ids, cfg.CheckpointID)
			}
			if len(ids) != h246SeedSteps || !slices.IsSortedFunc(ids, func(a, b string) int { return strings.Compare(b, a) }) {
				return fmt.Errorf("wrong: %d ids of k0 (want %d, newest first)", len(ids), h246SeedSteps)
			}
			return nil
		})
		do("backup", func() error {
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("bk%d.db", k)))
			if err != nil {
				return err
			}
			err = s.Backup(ctx, f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		})
		do("compact", func() error {
			_, err := s.Compact(ctx, nil)
			return err
		})
	}
}

func TestH246StraceRekey(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs child processes under strace")
	}
	strace := h172Strace(t)
	seed := uint64(246)
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H246_SEED"), 10, 64); err == nil {
		seed = v
	}
	rounds := huntRounds(6, 3)
	if v, err := strconv.Atoi(os.Getenv("CKPT_H246_ROUNDS")); err == nil {
		rounds = v
	}
	const steps = 6
	attach := h172CanAttach(t, strace)
	modes := []string{"rekey", "rekey-nowal"}
	counts := map[string]map[string]int{}
	for _, mode := range modes {
		counts[mode] = h172Profile(t, strace, mode, steps)
		t.Logf("%s: calls without a fault: %v", mode, counts[mode])
	}
	rng := rand.New(rand.NewPCG(seed, 246))
	landed := 0
	for round := range rounds {
		f := h172Fault{mode: modes[round%2], sys: h172Classes[rng.IntN(len(h172Classes))], steps: steps}
		f.kind = []string{"EIO", "ENOSPC", "KILL"}[rng.IntN(3)]
		f.when = 1 + rng.IntN(max(counts[f.mode][f.sys]/3, 2))
		f.on = f.kind == "ENOSPC" && rng.IntN(3) == 0
		f.attach = rng.IntN(3) != 0 && attach
		if rng.IntN(2) == 0 {
			// Rekey runs first, beside the writers' first steps: half
			// the rounds fault one of the first calls that commit.
			f.sys = []string{"fdatasync", "pwrite64", "write"}[rng.IntN(3)]
			f.when, f.attach = 1+rng.IntN(12), attach
		}
		if fs := strings.Fields(os.Getenv("CKPT_H246_FAULT")); len(fs) == 3 {
			// "sys kind when[+]": every round that fault.
			f.sys, f.kind = fs[0], fs[1]
			w, on := strings.CutSuffix(fs[2], "+")
			f.when, _ = strconv.Atoi(w)
			f.on = on
		}
		res := h246Round(t, strace, &f)
		if f.hits > 0 {
			landed++
		}
		t.Logf("round %d: %s: %s", round, f, res)
	}
	if rounds > 0 && landed == 0 {
		t.Errorf("none of the %d rounds' faults landed: the sweep tested nothing", rounds)
	}
}

// h246Round is h172Round on a "rekey" mode, then the checks of the key
// and of ListIDs (on the report h172Round leaves in f).
func h246Round(t *testing.T, strace string, f *h172Fault) string {
	t.Helper()
	res := h172Round(t, strace, f)
	if f.path == "" {
		return res
	}
	return res + h246KeyCheck(t, f.String(), f.path, f.report)
}

// h246KeyCheck checks the store at path, which the report ls describes
// and h172Check already checked with both keys: a ListIDs that returned
// no error listed what it should, and once a Rekey returned nil the newest
// key alone reads everything. It returns the Rekeys' outcomes for the log.
func h246KeyCheck(t *testing.T, label, path string, ls []h172Line) string {
	t.Helper()
	res := ""
	m := h172Build(ls)
	for k, l := range m.maint["listids"] {
		if strings.Contains(l.rest, "wrong:") {
			t.Errorf("%s: ListIDs %d: %s", label, k, l.rest)
		}
	}
	rekeyed := false
	for k := range 2 {
		l, ok := m.maint["rekey"][k]
		rekeyed = rekeyed || l.rest == "ok"
		switch {
		case ok:
			res += fmt.Sprintf(" rekey%d=%.60s", k, l.rest)
		case m.begins["rekey"][k] != 0:
			res += fmt.Sprintf(" rekey%d=unfinished", k)
		}
	}
	if !rekeyed {
		return res
	}
	// A Rekey returned nil: the newest key alone opens everything.
	s, err := ckpt.Open(path, ckpt.Options{ReadOnly: true, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(2)}}})
	if err != nil {
		t.Errorf("%s: a Rekey returned nil; key 2 alone: Open: %v", label, err)
		return res
	}
	defer s.Close()
	for _, p := range h172CheckStore(context.Background(), s, m, 0) {
		t.Errorf("%s: a Rekey returned nil; key 2 alone: %s", label, p)
	}
	return res
}

// TestH246KillDuringRekey: the workload of TestH246StraceRekey without
// strace, SIGKILLed at a moment drawn from the round's slice of its first
// 250 ms after the go-ahead (later each round), so kills land inside
// Rekey's transactions, between them, in ListIDs, Backup and Compact,
// wherever the CPU is, not only at a system call; in two rounds of three a
// process (read-write, or read-only) is waiting in Open for the file when
// the kill comes, and must get it, with everything acknowledged. The same
// checks, after h172Check with both keys. CKPT_HUNT_ROUNDS=N runs N rounds.
func TestH246KillDuringRekey(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("kills child processes")
	}
	rounds := huntRounds(8, 4)
	slice := 250_000 / rounds // µs
	tally := map[string]int{}
	for round := range rounds {
		delay := time.Duration(round*slice+rand.IntN(slice)) * time.Microsecond
		label := fmt.Sprintf("round %d (kill after %v)", round, delay)
		// A process already waiting in Open when the kill comes (one
		// read-write, one read-only, by turns; or none) gets the file.
		waiter := []string{"", "rw", "ro"}[round%3]
		mode := []string{"rekey", "rekey-nowal"}[round/3%2]
		label += " " + mode
		path, ls, w := h246KillRound(t, mode, delay, waiter)
		if w != nil {
			label += " " + waiter + " waiter"
			if w.err != nil {
				t.Errorf("%s: the waiter's Open: %v", label, w.err)
			} else {
				for _, p := range h172CheckStore(context.Background(), w.s, h172Build(ls), 0) {
					t.Errorf("%s: the waiter: %s", label, p)
				}
				if waiter == "rw" {
					if _, err := w.s.Save(context.Background(), "waiter", map[string]any{"x": 1}, nil); err != nil {
						t.Errorf("%s: the waiter's Save: %v", label, err)
					}
				}
				if err := w.s.Close(); err != nil {
					t.Errorf("%s: the waiter's Close: %v", label, err)
				}
			}
		}
		res := h172Check(t, label, path, h172Opts(mode), ls, true, nil)
		keys := h246KeyCheck(t, label, path, ls)
		for _, f := range strings.Fields(keys) {
			if k, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(k, "rekey") {
				tally[k+"="+strings.Fields(v + " ")[0]]++
			}
		}
		t.Logf("%s: %s%s", label, res, keys)
	}
	t.Logf("Rekey outcomes over %d kills: %v", rounds, tally)
}

// h246Waiter is an Open (read-write or read-only) begun while the child
// held the file.
type h246Waiter struct {
	s   *ckpt.Store
	err error
}

// h246KillRound seeds a store, runs the child of mode on it, kills it
// delay after the go-ahead and returns the store's path and the report;
// with waiter "rw" or "ro", also the store an Open of that kind, begun
// before the kill, got.
func h246KillRound(t *testing.T, mode string, delay time.Duration, waiter string) (string, []h172Line, *h246Waiter) {
	t.Helper()
	dir := t.TempDir()
	rep := h172RepFile(t, dir)
	defer rep.Close()
	path := filepath.Join(dir, "s.db")
	seed := h246Seed(t, mode, path)
	cmd := exec.Command(testchild.Binary(), "-test.run=^$")
	cmd.Env = childEnv(fileChildEnv+"=h172", crashFileEnv+"="+path, h172ModeEnv+"="+mode,
		h172StepsEnv+"=40", h172WaitEnv+"=1")
	cmd.ExtraFiles = []*os.File{rep}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "ready\n" {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = h172Wait(cmd)
		t.Fatalf("the child did not open the store: %q: %s", line, stderr.String())
	}
	_, _ = in.Write([]byte("go\n"))
	in.Close()
	var opened chan h246Waiter
	if waiter != "" {
		opened = make(chan h246Waiter, 1)
		go func() {
			o := h172Opts(mode)
			o.ReadOnly, o.LockTimeout = waiter == "ro", time.Minute
			s, err := ckpt.Open(path, o)
			opened <- h246Waiter{s, err}
		}()
	}
	time.Sleep(delay)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err := h172Wait(cmd); errors.Is(err, errH172Hung) {
		t.Fatalf("the child did not end after its kill")
	} else if err == nil && strings.Contains(stderr.String(), "panic") {
		t.Fatalf("the child: %s", stderr.String())
	} else if err != nil {
		var ee *exec.ExitError
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !errors.As(err, &ee) || !ok || !ws.Signaled() {
			t.Fatalf("the child: %v: %s", err, stderr.String())
		}
	}
	ls := h172After(seed, h172Parse(t, rep))
	if opened == nil {
		return path, ls, nil
	}
	select {
	case w := <-opened:
		return path, ls, &w
	case <-time.After(2 * time.Minute):
		t.Fatalf("an Open waiting for the killed child's file did not return")
	}
	return path, ls, nil
}
