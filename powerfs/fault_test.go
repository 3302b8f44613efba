//go:build linux

package powerfs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// The fault hunt: one call of the store's (an fsync of its file, its
// log, a temporary file or a directory; a write to a file) fails, at
// each point of a scenario in turn; the store carries on as it chooses.
// Then a second process reopens the store on the same mount (the page
// cache still holds what the failed fsync should have covered) and
// writes on, and the power-cut images of every mark are checked: every
// acknowledged write in each, no write whose call returned an error in
// any, Open never refusing nor panicking.

const (
	faultScenEnv  = "CKPT_POWERFS_FAULT_SCENARIO"
	faultPhaseEnv = "CKPT_POWERFS_FAULT_PHASE"
	childIn       = "CKPT_POWERFS_CHILD_IN"
)

type faultScenario struct {
	name string
	opts ckpt.Options
	// later is what the store is reopened and its images opened with
	// when a scenario changes its keys (zero: opts).
	later ckpt.Options
	kill  bool // the first process exits without Close (kill -9)
	// few: the default run sweeps four kinds of fault drawn, not all
	// (CKPT_POWERFS_FAULTS set: all). The scenarios without it
	// (writes-wal, writes-nowal, maint-nowal) sweep every kind in the
	// default run: between them every kind of faultKinds is struck
	// there (the log's and the file's in writes-wal, the temporary
	// files' in maint-nowal).
	few   bool
	steps func(*life)
}

// reopenOpts is what the second process and the images open with.
func (sc faultScenario) reopenOpts() ckpt.Options {
	if sc.later.Encryption != nil {
		return sc.later
	}
	return sc.opts
}

func writes(l *life) {
	for i := range 3 {
		l.trySave([]string{"a", "b"}[i%2], ckpt.Sync, 100*i)
	}
	l.trySave("c", ckpt.NoSync, 50)
	for range 2 {
		l.trySave("d", ckpt.Async, 300)
	}
	l.tryFlush()
	l.trySave("a", ckpt.Sync, 5000)
}

func maint(l *life) { maintSteps(l, true) }

// maintSteps is the maintenance scenario; without close the store is
// left open for the kill (ImportFile, on a file of its own, still runs).
func maintSteps(l *life, close bool) {
	l.trySave("a", ckpt.Sync, 10)
	l.trySave("b", ckpt.Sync, 10)
	l.tryDo("ApplyLog", func(ctx context.Context, s *ckpt.Store) error { return s.ApplyLog(ctx) })
	l.tryDo("Compact", func(ctx context.Context, s *ckpt.Store) error { _, err := s.Compact(ctx, nil); return err })
	l.trySave("a", ckpt.Sync, 10)
	l.tryGC()
	l.trySave("c", ckpt.Sync, 10)
	if l.tryDo("BackupFile", func(ctx context.Context, s *ckpt.Store) error { return s.BackupFile(ctx, l.path("backup.db")) }) {
		l.copyAcks("backup.db")
	}
	var dump bytes.Buffer
	exported := l.tryDo("Export", func(ctx context.Context, s *ckpt.Store) error {
		_, err := s.Export(ctx, &dump, ckpt.ExportOptions{})
		return err
	})
	l.trySave("d", ckpt.Sync, 10)
	if close {
		l.tryClose()
	}
	if !exported {
		return
	}
	_, err := ckpt.ImportFile(context.Background(), l.path("imp.db"), &dump, l.runOpts, ckpt.ImportOptions{})
	if l.noteErr("ImportFile", err) {
		for _, a := range l.Acks {
			if a.File == "s.db" && a.Thread != "d" && a.Until == 0 && a.From != 0 {
				c := *a
				c.File, c.From = "imp.db", l.Mark+1
				l.Acks = append(l.Acks, &c)
			}
		}
	}
	l.step("ImportFile")
}

// sealedSteps: writes under key 1, then reopened with key 2 beside it,
// Rekey, Compact (a temporary file sealed under the new key, renamed
// over the store), writes, Close.
func sealedSteps(l *life, later ckpt.Options) {
	l.trySave("a", ckpt.Sync, 10)
	l.trySave("d", ckpt.Async, 300)
	l.tryFlush()
	l.trySave("b", ckpt.NoSync, 50)
	l.tryClose()
	if !l.tryOpen(later) {
		return
	}
	l.tryDo("Rekey", func(ctx context.Context, s *ckpt.Store) error { _, err := s.Rekey(ctx); return err })
	l.trySave("a", ckpt.Sync, 100)
	l.tryDo("Compact", func(ctx context.Context, s *ckpt.Store) error { _, err := s.Compact(ctx, nil); return err })
	l.trySave("c", ckpt.Sync, 10)
	l.tryClose()
}

// asyncSteps: Async writes vouched for by a good Flush, then more that a
// failed Flush or Close may not vouch for: the first ones must survive
// whatever fails later.
func asyncSteps(l *life) {
	l.trySave("a", ckpt.Sync, 10)
	for range 2 {
		l.trySave("d", ckpt.Async, 300)
	}
	l.tryFlush()
	for range 2 {
		l.trySave("e", ckpt.Async, 2000)
	}
	l.tryFlush()
	l.trySave("d", ckpt.Async, 100)
	l.trySave("b", ckpt.Sync, 10)
	l.trySave("e", ckpt.Async, 100)
	l.tryClose()
}

var (
	sealedFirst = ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{key(1)}}}
	sealedLater = ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{key(2), key(1)}}}
)

var faultScenarios = []faultScenario{
	{name: "writes-wal", steps: func(l *life) { writes(l); l.tryClose() }},
	{name: "writes-nowal", opts: ckpt.Options{NoWAL: true}, steps: func(l *life) { writes(l); l.tryClose() }},
	{name: "writes-wal-kill", few: true, kill: true, steps: writes},
	{name: "maint-wal", few: true, steps: maint},
	{name: "maint-nowal", opts: ckpt.Options{NoWAL: true}, steps: maint},
	{name: "writes-nowal-kill", few: true, opts: ckpt.Options{NoWAL: true}, kill: true, steps: writes},
	{name: "maint-wal-kill", few: true, kill: true, steps: func(l *life) { maintSteps(l, false) }},
	{name: "maint-nowal-kill", few: true, opts: ckpt.Options{NoWAL: true}, kill: true, steps: func(l *life) { maintSteps(l, false) }},
	{name: "sealed", few: true, opts: sealedFirst, later: sealedLater, steps: func(l *life) { sealedSteps(l, sealedLater) }},
	{name: "async", few: true, steps: asyncSteps},
	{name: "nosync-last", few: true, steps: func(l *life) {
		l.trySave("a", ckpt.Sync, 10)
		l.trySave("c", ckpt.NoSync, 10)
		l.trySave("b", ckpt.Sync, 10)
		l.tryClose()
	}},
}

// TestPowerFaultChild is the store's side of a fault run (the test
// binary run again by faultRun); it does nothing in a plain run.
func TestPowerFaultChild(t *testing.T) {
	name := os.Getenv(faultScenEnv)
	if name == "" {
		t.Skip("run by the fault hunt only")
	}
	var sc *faultScenario
	for i := range faultScenarios {
		if faultScenarios[i].name == name {
			sc = &faultScenarios[i]
		}
	}
	for i := range compactDirScenarios {
		if compactDirScenarios[i].name == name {
			sc = &compactDirScenarios[i]
		}
	}
	if sc == nil {
		sc = cliScenario(name)
	}
	if sc == nil {
		t.Fatalf("no scenario %q", name)
	}
	l := &life{t: t, dir: os.Getenv(childDir), runOpts: sc.opts}
	l.Names, l.Info = map[int]string{}, map[string]int{}
	if os.Getenv(faultPhaseEnv) == "1" {
		if l.tryOpen(sc.opts) {
			sc.steps(l)
		}
		if sc.kill {
			l.Maybe = append(l.Maybe, l.async...)
			l.async = nil
		}
	} else {
		b, err := os.ReadFile(os.Getenv(childIn))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &l.lifeData); err != nil {
			t.Fatal(err)
		}
		l.reopenLive(sc.reopenOpts())
	}
	b, err := json.Marshal(l.lifeData)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(childOut), b, 0o600); err != nil {
		t.Fatal(err)
	}
	if sc.kill && l.s != nil {
		os.Exit(0) // no Close: the store's goroutines and locks die with the process
	}
}

// reopenLive is the second process: Open on the same mount, every
// acknowledged write there and no refused one, then a Sync write and
// Close (what a power cut after them may leave is checked too).
func (l *life) reopenLive(opts ckpt.Options) {
	s, err := ckpt.Open(l.path("s.db"), opts)
	if err != nil {
		l.t.Fatalf("reopen after the fault, on the live file system: %v (errors before: %v)", err, l.Errs)
	}
	l.s = s
	if err := l.checkLive(s); err != nil {
		l.t.Errorf("reopen after the fault, on the live file system: %v (errors before: %v)", err, l.Errs)
	}
	l.step("reopen")
	l.trySave("z", ckpt.Sync, 10)
	l.tryClose()
	if len(l.Errs) > 0 && strings.HasPrefix(l.Errs[len(l.Errs)-1], "reopened:") {
		l.t.Errorf("the reopened store failed: %v", l.Errs)
	}
}

// checkLive: every write acknowledged to s.db (a NoSync one too: a
// process's end loses nothing the OS holds) is there, whole, and no
// refused one.
func (l *life) checkLive(s *ckpt.Store) error {
	ctx := context.Background()
	for _, a := range l.Acks {
		if a.File != "s.db" || a.Until != 0 {
			continue
		}
		snap, err := s.Load(ctx, a.Thread, a.ID)
		if err != nil {
			return fmt.Errorf("write %s/%s acknowledged: %w", a.Thread, a.ID, err)
		}
		st, err := snap.StateMap()
		if err != nil {
			return fmt.Errorf("write %s/%s: %w", a.Thread, a.ID, err)
		}
		if got, _ := st["v"].(string); got != a.Value {
			return fmt.Errorf("write %s/%s holds %.20q, want %.20q", a.Thread, a.ID, got, a.Value)
		}
	}
	return l.checkRefused(s, "s.db")
}

// checkRefused: no write refused to file is in s, in any thread's
// history.
func (l *life) checkRefused(s *ckpt.Store, file string) error {
	ctx := context.Background()
	for _, a := range l.Refused {
		if a.File != file {
			continue
		}
		for snap, err := range s.History(ctx, a.Thread, ckpt.ListOptions{}) {
			if err != nil {
				return fmt.Errorf("thread %s: History: %w", a.Thread, err)
			}
			st, err := snap.StateMap()
			if err != nil {
				return fmt.Errorf("thread %s: %s: %w", a.Thread, snap.CheckpointID, err)
			}
			if v, _ := st["v"].(string); v == a.Value {
				return fmt.Errorf("write %.20q to thread %s returned an error and is there, as %s", a.Value, a.Thread, snap.CheckpointID)
			}
		}
	}
	return nil
}

// noteErr records err of what (nil: true).
func (l *life) noteErr(what string, err error) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, ckpt.ErrClosed) && l.s == nil {
		return false
	}
	l.Errs = append(l.Errs, fmt.Sprintf("%s: mark %d: %s: %v", l.phase(), l.Mark, what, err))
	return false
}

func (l *life) phase() string {
	if os.Getenv(faultPhaseEnv) == "1" {
		return "first"
	}
	return "reopened"
}

func (l *life) tryOpen(opts ckpt.Options) bool {
	s, err := ckpt.Open(l.path("s.db"), opts)
	if !l.noteErr("Open", err) {
		return false
	}
	l.s = s
	l.step("open")
	return true
}

func (l *life) trySave(thread string, d ckpt.Durability, size int) {
	l.t.Helper()
	if l.s == nil {
		return
	}
	l.seq++
	v := l.phase() + strconv.Itoa(l.seq) + strings.Repeat("x", size)
	ctx := ckpt.WithWriteOptions(context.Background(), ckpt.WriteOptions{Durability: d})
	id, err := l.s.Save(ctx, thread, map[string]any{"v": v}, nil)
	a := &ack{File: "s.db", Thread: thread, ID: id, Value: v}
	if !l.noteErr(fmt.Sprintf("Save %s %s", thread, d), err) {
		l.Refused = append(l.Refused, a)
	} else {
		l.Acks = append(l.Acks, a)
		switch d {
		case ckpt.Sync:
			a.From = l.Mark + 1
		case ckpt.Async:
			l.async = append(l.async, a)
		}
	}
	l.step(fmt.Sprintf("save %s %s", thread, d))
}

// settle vouches for the Async writes so far (err nil), or takes them
// back: those err names failed (by checkpoint id) are refused, the others
// unknown (Maybe).
func (l *life) settle(what string, err error) {
	if l.noteErr(what, err) {
		l.vouch()
		return
	}
	for _, a := range l.async {
		for i, b := range l.Acks {
			if b == a {
				l.Acks = append(l.Acks[:i], l.Acks[i+1:]...)
				break
			}
		}
		if err != nil && strings.Contains(err.Error(), "checkpoint "+a.ID+" ") {
			l.Refused = append(l.Refused, a)
		} else {
			l.Maybe = append(l.Maybe, a)
		}
	}
	l.async = nil
}

func (l *life) tryFlush() {
	if l.s == nil {
		return
	}
	l.settle("Flush", l.s.Flush(context.Background()))
	l.step("flush")
}

func (l *life) tryClose() {
	if l.s == nil {
		return
	}
	l.settle("Close", l.s.Close())
	l.s = nil
	l.step("close")
}

func (l *life) tryDo(what string, f func(context.Context, *ckpt.Store) error) bool {
	if l.s == nil {
		return false
	}
	ok := l.noteErr(what, f(context.Background(), l.s))
	l.step(what)
	return ok
}

// tryGC is gcKeepLast that may fail: the older checkpoints may be gone
// from its end on either way.
func (l *life) tryGC() {
	if l.s == nil {
		return
	}
	_, err := l.s.GC(context.Background(), ckpt.Policy{KeepLast: 1})
	l.noteErr("GC", err)
	newest := map[string]*ack{}
	for _, a := range l.Acks {
		if a.File == "s.db" {
			newest[a.Thread] = a
		}
	}
	for _, a := range l.Acks {
		if a.File == "s.db" && newest[a.Thread] != a && a.Until == 0 {
			a.Until = l.Mark + 1
		}
	}
	l.step("gc")
}

// faultRun runs sc on a fresh mount with f armed in the first process
// and disarmed in the second, and returns the life to check and the
// calls the first process made of each kind.
func faultRun(t *testing.T, sc faultScenario, f Fault) (*life, map[[2]int]int) {
	t.Helper()
	// The calls' count varies a little from run to run (groups formed by
	// timing, the applier's passes; more so with the other tests' runs
	// beside it): a run that made fewer than f.N such calls, so that the
	// fault never struck, runs again, up to three times in all.
	for attempt := 1; ; attempt++ {
		l, counts, struck := faultRunOnce(t, sc, f)
		if struck {
			return l, counts
		}
		made := counts[[2]int{int(f.Call), int(f.Target)}]
		if attempt == 3 {
			t.Skipf("%s, %+v: the fault never struck in %d runs: the last made %d such calls", sc.name, f, attempt, made)
		}
		t.Logf("%s, %+v: the fault never struck: this run made %d such calls; again", sc.name, f, made)
	}
}

// faultRunOnce is one run of faultRun; struck is false (and the life
// nil) if f never struck.
func faultRunOnce(t *testing.T, sc faultScenario, f Fault) (l *life, counts map[[2]int]int, struck bool) {
	t.Helper()
	fs := Mount(t)
	fs.Arm(f)
	tmp := t.TempDir()
	child := func(phase, in, out string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestPowerFaultChild$", "-test.count=1", "-test.timeout=5m")
		cmd.Env = append(os.Environ(), childDir+"="+fs.Dir, childOut+"="+out, childIn+"="+in,
			faultScenEnv+"="+sc.name, faultPhaseEnv+"="+phase)
		if b, err := cmd.CombinedOutput(); err != nil {
			if os.Getenv("CKPT_POWERFS_DUMP") != "" {
				for i, o := range fs.Record.Ops() {
					t.Logf("%d %v", i, o)
				}
			}
			t.Fatalf("%s, %+v: the %s process: %v\n%s", sc.name, f, map[string]string{"1": "first", "2": "second"}[phase], err, b)
		}
	}
	out1, out2 := filepath.Join(tmp, "1.json"), filepath.Join(tmp, "2.json")
	child("1", "", out1)
	counts = map[[2]int]int{}
	for c := range 2 {
		for g := range 4 {
			counts[[2]int{c, g}] = fs.Calls(Call(c), Target(g))
		}
	}
	if f.N != 0 && fs.FaultHits() != 1 {
		return nil, counts, false
	}
	t.Logf("the fault failed %s", fs.FaultHit())
	fs.Disarm()
	child("2", out1, out2)
	b, err := os.ReadFile(out2)
	if err != nil {
		t.Fatal(err)
	}
	l = &life{t: t, dir: fs.Dir, rec: fs.Record, opts: sc.reopenOpts()}
	if err := json.Unmarshal(b, &l.lifeData); err != nil {
		t.Fatal(err)
	}
	return l, counts, true
}

// faultKinds are the faults swept: an fsync failing with EIO at each
// target; a write failing with ENOSPC, with EIO, and cut short by
// ENOSPC, at each file.
var faultKinds = []Fault{
	{Call: CallFsync, Target: TargetLog, Errno: syscall.EIO},
	{Call: CallFsync, Target: TargetDB, Errno: syscall.EIO},
	{Call: CallFsync, Target: TargetOther, Errno: syscall.EIO},
	{Call: CallFsync, Target: TargetDir, Errno: syscall.EIO},
	{Call: CallWrite, Target: TargetLog, Errno: syscall.ENOSPC},
	{Call: CallWrite, Target: TargetLog, Errno: syscall.EIO},
	{Call: CallWrite, Target: TargetLog, Errno: syscall.ENOSPC, Short: true},
	{Call: CallWrite, Target: TargetDB, Errno: syscall.ENOSPC},
	{Call: CallWrite, Target: TargetDB, Errno: syscall.EIO},
	{Call: CallWrite, Target: TargetDB, Errno: syscall.ENOSPC, Short: true},
	{Call: CallWrite, Target: TargetOther, Errno: syscall.ENOSPC},
	{Call: CallWrite, Target: TargetOther, Errno: syscall.EIO, Short: true},
}

func (f Fault) name() string {
	s := fmt.Sprintf("%s-%s-%s-%d", f.Call, f.Target, strings.ToLower(unixName(f.Errno)), f.N)
	if f.Short {
		s += "-short"
	}
	return s
}

func unixName(e syscall.Errno) string {
	switch e {
	case syscall.EIO:
		return "EIO"
	case syscall.ENOSPC:
		return "ENOSPC"
	}
	return strconv.Itoa(int(e))
}

// sweepPoints is the Ns to fail of count calls: all of them with
// CKPT_POWERFS_FAULTS=all, else k drawn (seeded, without repeats) with
// CKPT_POWERFS_FAULTS=k, else one (the default run: CKPT_POWERFS_SEED
// draws others).
func sweepPoints(count int, rng *rand.Rand) []int {
	k := 1
	switch v := os.Getenv("CKPT_POWERFS_FAULTS"); {
	case v == "all":
		k = count
	case v != "":
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			k = n
		}
	}
	ns := rng.Perm(count)
	ns = ns[:min(k, count)]
	for i := range ns {
		ns[i]++
	}
	sort.Ints(ns)
	return ns
}

// TestPowerFaultSweep: each scenario, each fault kind, at a point of its
// calls drawn (more with CKPT_POWERFS_FAULTS=k, all of them with
// CKPT_POWERFS_FAULTS=all); the numbers are logged.
func TestPowerFaultSweep(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	for si, sc := range faultScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sweep(t, sc, faultKinds, uint64(si), false)
		})
	}
}

// TestPowerFaultFullDiskNoWAL: without the log, every write to the
// store's file in turn finds the disk full. The commit it is part of
// fails alone (ErrDiskFull) and the store goes on; when it was the meta
// page's write, bbolt's rollback reloads its free list through its map
// of the file, where a FUSE file system still shows the failed write's
// bytes for a moment: the failed commit's free list, which calls the
// pages the committed tree uses free. The next commits then write over
// them (Compact finds "page 4 is free but in use").
func TestPowerFaultFullDiskNoWAL(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	kinds := []Fault{{Call: CallWrite, Target: TargetDB, Errno: syscall.ENOSPC}}
	for _, sc := range faultScenarios {
		if sc.name == "maint-nowal" {
			sweep(t, sc, kinds, 9, true)
		}
	}
}

// sweep runs sc once without a fault, to count its calls, then with each
// fault of kinds at points of them (all: every one).
func sweep(t *testing.T, sc faultScenario, kinds []Fault, stream uint64, all bool) {
	seed := uint64(203)
	if v, err := strconv.ParseUint(os.Getenv("CKPT_POWERFS_SEED"), 10, 64); err == nil {
		seed ^= v << 8
	}
	var counts map[[2]int]int
	t.Run("none", func(t *testing.T) {
		l, c := faultRun(t, sc, Fault{})
		if len(l.Errs) != 0 || len(l.Refused) != 0 {
			t.Fatalf("errors without a fault: %v", l.Errs)
		}
		counts = c
		l.check(seed, 1)
	})
	if counts == nil {
		return
	}
	rng := rand.New(rand.NewPCG(seed, stream))
	// The fault runs are parallel subtests (each its own mount and
	// children); the tally is logged once they all ended.
	var runs, refused, errs, images atomic.Int64
	t.Cleanup(func() {
		t.Logf("%s: calls %v; %d fault runs, %d writes refused, %d errors, %d images", sc.name, counts, runs.Load(), refused.Load(), errs.Load(), images.Load())
	})
	if sc.few && !all && os.Getenv("CKPT_POWERFS_FAULTS") == "" {
		// The default run's time: four kinds drawn among those the
		// scenario makes calls of.
		var some []Fault
		for _, k := range kinds {
			if counts[[2]int{int(k.Call), int(k.Target)}] > 0 {
				some = append(some, k)
			}
		}
		rng.Shuffle(len(some), func(i, j int) { some[i], some[j] = some[j], some[i] })
		kinds = some[:min(4, len(some))]
	}
	for _, k := range kinds {
		count := counts[[2]int{int(k.Call), int(k.Target)}]
		ns := sweepPoints(count, rng)
		if all {
			ns = ns[:0]
			for n := range count {
				ns = append(ns, n+1)
			}
		}
		for _, n := range ns {
			f := k
			f.N = n
			t.Run(f.name(), func(t *testing.T) {
				t.Parallel()
				l, _ := faultRun(t, sc, f)
				if os.Getenv("CKPT_POWERFS_DUMP") != "" {
					for i, o := range l.rec.Ops() {
						t.Logf("%d %v", i, o)
					}
				}
				runs.Add(1)
				refused.Add(int64(len(l.Refused)))
				errs.Add(int64(len(l.Errs)))
				for _, e := range l.Errs {
					t.Log(e)
				}
				images.Add(int64(l.check(seed^uint64(n), 1)))
			})
		}
	}
}

// TestPowerFaultNewFileFsync: the fsync of a new store's first pages
// fails, so Open fails; bbolt's pages stay in the page cache, never
// durable. A second Open on the live file system found a store there
// and committed into it: a power cut before its next commit left a file
// whose meta page 1 (bbolt's first pages') is gone, which Open refuses
// as damaged, though nothing of it was ever acknowledged.
func TestPowerFaultNewFileFsync(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	for _, sc := range faultScenarios {
		if sc.name != "writes-nowal" && sc.name != "writes-wal" {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			l, _ := faultRun(t, sc, Fault{Call: CallFsync, Target: TargetDB, N: 1, Errno: syscall.EIO})
			if len(l.Errs) == 0 || !strings.Contains(l.Errs[0], "Open") {
				t.Fatalf("the first Open did not fail: %v", l.Errs)
			}
			l.check(203, 5)
		})
	}
}

// TestPowerFaultLogFsyncAfterNoSync: the log's fsync that should cover a
// NoSync write fails (a Sync write's, after it): the store fails, and its
// Close applies every acknowledged write into the file, the NoSync one
// too, marks the log closed and removes it without an fsync of the
// directory. The NoSync write's record in the log was never durable (the
// failed fsync), so a power cut after that Close can bring back a log
// that ends a group before the one the file says it holds, and Open
// refuses the file as damaged ("the valid records end at group 2, but the
// store says it holds groups up to 3"), with the Sync writes
// acknowledged in it.
func TestPowerFaultLogFsyncAfterNoSync(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	kinds := []Fault{{Call: CallFsync, Target: TargetLog, Errno: syscall.EIO}}
	for _, sc := range faultScenarios {
		if sc.name == "nosync-last" {
			sweep(t, sc, kinds, 11, true)
		}
	}
}
