//go:build linux

package ckpt_test

// h146: faults in sequence across the maintenance calls. Each round runs
// seeded random calls (Put, PutFull, PutWrites with special writes, Save
// in each durability, DeleteThread, CopyThread, Prune, GC by KeepLast,
// MaxAge and ThreadTTL, Compact, BackupFile, Export into an Import,
// Export into an ImportFile, Rekey with keys rotated (h148_sealed_linux_test.go),
// Flush, ApplyLog, Verify) on one store through two or three faults, one
// after the other, each followed by what a user would do: a failed fsync,
// bbolt commit or directory fsync at the k-th call (once, or from then on),
// a full disk (a small tmpfs filled to a few KiB; then freed), a child
// process killed at the k-th fault point (and maybe a second one killed
// early in its Open's replay), a flipped byte in a copy of the file or the
// log at rest. Between faults the store is closed, reopened (RecoverLog
// where Open refuses the log) and checked against the model: every
// acknowledged write reads back exactly, nothing of a failed call shows,
// Verify is clean exactly when every read works, a backup that returned
// nil opens alone and whole, and an import that returned nil holds its
// thread; where a flipped byte of the file breaks a read or Verify, the
// intact threads are exported into a new store (docs/cli.md), and a flip
// Open takes leaves History as it was or fails it. CKPT_H146_SEED
// (default 146), CKPT_H146_ROUNDS (default 20), CKPT_H146_KEEP (a
// directory to keep a store whose History a flip changed).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
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
	"github.com/ckpt-go/ckpt/internal/testchild"
	"github.com/oklog/ulid/v2"
)

const (
	h146KillEnv = "CKPT_H146_KILL" // the child kills itself at this fault point
	h146FailEnv = "CKPT_H146_FAIL" // kind:k, the child's k-th call of that kind fails
	h146ModeEnv = "CKPT_H146_MODE" // the round's store: plain, sealed, nowal
	h146OpsEnv  = "CKPT_H146_OPS"  // the file of the child's calls
)

// h146ModeOpts are the options of a round's stores (and of its backups
// and import stores).
func h146ModeOpts(mode string) ckpt.Options {
	mode, ids, _ := strings.Cut(mode, ":") // sealed:ID,ID... (h148Keys), newest first
	switch mode {
	case "sealed":
		return ckpt.Options{Encryption: &ckpt.Encryption{Keys: h148Keys(ids)}}
	case "nowal":
		return ckpt.Options{NoWAL: true}
	}
	return ckpt.Options{}
}

var errH146 = errors.New("h146: injected fault")

// h146Arm fails the k-th call of one kind of fault point (and, sticky,
// every one after it).
type h146Arm struct {
	mu     sync.Mutex
	kind   string
	left   int
	sticky bool
	fired  int
}

func (a *h146Arm) set(kind string, k int, sticky bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.kind, a.left, a.sticky, a.fired = kind, k, sticky, 0
}

func (a *h146Arm) at(point string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.kind == "" || point != a.kind {
		return nil
	}
	a.left--
	if a.left == 0 || (a.left < 0 && a.sticky) {
		a.fired++
		return errH146
	}
	return nil
}

type h146Run struct {
	t         *testing.T
	ctx       context.Context
	rng       *rand.Rand
	m         *h146Model
	before    *h146Model
	name      string
	mode      string // plain, sealed (encrypted), nowal
	opsDir    string
	recovered bool // the last open ran RecoverLog
	dir       string
	path      string
	opts      ckpt.Options
	arm       h146Arm
	s         *ckpt.Store
	backups   []*h146Backup
	keys      []uint32 // sealed: the keyring's ids, newest first (h148_sealed_linux_test.go)
	allKeys   []uint32 // every key id the round used (its backups and import stores may hold any)
	dropOld   bool     // a Rekey returned nil: the next open drops the older keys
	n         int
	oldSeq    int
	fault     bool // a fault since the last checked reopen: calls may fail
	replaced  bool // the call being applied returned a *ckpt.ReplacedError
	full      bool // a tmpfs to fill
	log       []string
	stats     map[string]int
}

func (r *h146Run) logf(f string, a ...any) { r.log = append(r.log, fmt.Sprintf(f, a...)) }

func (r *h146Run) fail(f string, a ...any) {
	r.t.Helper()
	r.t.Errorf("%s: %s\n  what happened:\n    %s", r.name, fmt.Sprintf(f, a...), strings.Join(r.log, "\n    "))
}

// gen draws the next call against the model.
func (r *h146Run) gen(child bool) h146Op {
	r.n++
	tag := fmt.Sprintf("g%d", r.n)
	op := h146Op{Tag: tag, Thread: fmt.Sprintf("t%d", r.rng.IntN(4)), Val: h146Val(tag, 10+r.rng.IntN(6000))}
	switch x := r.rng.IntN(10); {
	case x < 2:
		op.Dur = int(ckpt.NoSync)
	case x < 4:
		op.Dur = int(ckpt.Async)
	}
	kinds := []string{"save", "save", "save", "put", "put", "putfull", "writes", "writes", "old",
		"delete", "copy", "prune", "gc", "compact", "backup", "export", "flush", "applylog", "verify",
		"importfile", "rekey"}
	op.Kind = kinds[r.rng.IntN(len(kinds))]
	live := r.m.threads()
	musts := r.m.musts()
	switch op.Kind {
	case "old":
		r.oldSeq++
		op.Kind, op.Thread = "put", "old"
		ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.oldSeq) * time.Millisecond)
		var id ulid.ULID
		_ = id.SetTime(ulid.Timestamp(ts))
		_ = id.SetEntropy([]byte{1, 4, 6, 0, 0, 0, 0, 0, 0, byte(r.oldSeq)})
		op.ID = id.String()
		op.Dur = int(ckpt.Sync)
	case "putfull":
		op.Task = fmt.Sprintf("k%d", r.n)
	case "writes":
		if len(musts) == 0 {
			op.Kind = "save"
			break
		}
		c := musts[r.rng.IntN(len(musts))]
		op.Thread, op.Target = c.thread, c.id
		op.Task, op.Special = fmt.Sprintf("k%d", r.n), r.rng.IntN(3) == 0
		for key := range c.pw {
			if strings.HasSuffix(key, "/"+ckpt.ChannelError) && op.Special && r.rng.IntN(2) == 0 {
				op.Task = strings.TrimSuffix(key, "/"+ckpt.ChannelError) // replaces the stored one
			}
		}
	case "delete", "copy":
		var src []string
		for _, th := range live {
			if th != "old" {
				src = append(src, th)
			}
		}
		if len(src) == 0 {
			op.Kind = "save"
			break
		}
		op.Thread = src[r.rng.IntN(len(src))]
		op.Dst = fmt.Sprintf("c%d", r.n)
	case "prune", "gc":
		if !r.m.settled() || len(live) == 0 {
			op.Kind = "flush"
			break
		}
		op.Thread = live[r.rng.IntN(len(live))]
		op.Policy = []string{"keep", "age", "ttl"}[r.rng.IntN(3)]
		op.N = 1 + r.rng.IntN(3)
	case "backup":
		op.Path = filepath.Join(r.dir, fmt.Sprintf("b%d.bak", r.n))
	case "export", "importfile":
		if len(live) == 0 {
			op.Kind = "save"
			break
		}
		op.Thread = live[r.rng.IntN(len(live))]
		op.Path = filepath.Join(r.dir, fmt.Sprintf("i%d.db", r.n))
	case "rekey":
		if r.mode != "sealed" {
			op.Kind = "verify"
		}
	}
	if child && op.Dur == int(ckpt.Async) {
		op.Dur = int(ckpt.Sync)
	}
	return op
}

func h146Expected(err error) bool { return errors.Is(err, ckpt.ErrNotFound) }

// h146Replaced says err is BackupFile's (or Compact's) after its new file
// was put at the path: only the directory's fsync failed, and the error
// says so (ErrNotDurable); the file there is whole (docs/durability.md).
func h146Replaced(err error) bool {
	var re *ckpt.ReplacedError
	return errors.As(err, &re) && errors.Is(err, ckpt.ErrNotDurable)
}

// do runs op on the open store.
func (r *h146Run) do(op h146Op) error {
	r.before = r.m.clone()
	id, err := h146Do(r.ctx, r.s, op, r.opts)
	r.logf("%s %s %s dur=%d %s: id %s err %v", op.Kind, op.Thread, op.Tag, op.Dur, op.Policy, id, err)
	if op.Kind == "rekey" && err == nil {
		r.rekeyed()
	}
	st := h146OK
	if err != nil {
		st = h146Err
		r.stats["failed"]++
		if !r.fault && !h146Expected(err) {
			r.fail("%s %s without a fault: %v", op.Kind, op.Tag, err)
		}
	} else {
		r.stats["acked"]++
	}
	r.replaced = h146Replaced(err)
	r.apply(op, id, st)
	return err
}

// open opens the store as a user would: Open, and where it refuses the
// log as damaged, RecoverLog and Open again.
func (r *h146Run) open(path string) (*ckpt.Store, error) {
	s, err := ckpt.Open(path, r.opts)
	if errors.Is(err, ckpt.ErrCorrupt) {
		r.logf("open %s: %v; RecoverLog", filepath.Base(path), err)
		r.recovered = true
		if _, rerr := ckpt.RecoverLog(path, r.opts); rerr != nil {
			return nil, fmt.Errorf("open: %w; RecoverLog: %w", err, rerr)
		}
		s, err = ckpt.Open(path, r.opts)
	}
	return s, err
}

// closeStore closes the store (an error is a defect unless a fault came
// since the last check).
func (r *h146Run) closeStore() {
	if r.s == nil {
		return
	}
	err := r.s.Close()
	r.s = nil
	r.logf("close: %v", err)
	if err == nil {
		r.flushed()
	} else if !r.fault {
		r.fail("Close without a fault: %v", err)
	}
	r.m.async = nil // what Close did not vouch for stays in doubt
}

// reopen closes and opens the store and checks it against the model,
// then settles what was in doubt.
func (r *h146Run) reopen() {
	r.closeStore()
	if r.fault && r.rng.IntN(4) == 0 {
		// An operator who runs `ckpt recover` after any crash: on a
		// sound log it keeps every group.
		st, err := ckpt.RecoverLog(r.path, r.opts)
		r.logf("RecoverLog on a sound store: %+v %v", st, err)
		if err != nil {
			r.fail("RecoverLog on a store no damage reached: %v", err)
		}
		r.stats["recover"]++
	}
	r.rotateKeys()
	s, err := ckpt.Open(r.path, r.opts)
	if err != nil {
		r.fail("Open after the faults (no damage): %v", err)
		if s, err = r.open(r.path); err != nil {
			r.t.Fatalf("%s: the store cannot be made usable again: %v", r.name, err)
		}
	}
	r.s = s
	r.logf("reopened")
	problems, seen, readErr := r.m.check(r.ctx, s)
	if len(problems) > 0 || readErr != nil {
		r.fail("after reopen: read error %v; %d problems:\n%s", readErr, len(problems), strings.Join(problems, "\n"))
	}
	if rep, err := s.Verify(r.ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		r.fail("Verify after reopen: %v %+v", err, rep)
	}
	r.m.settle(seen)
	r.fault = false
	r.stats["checks"]++
	r.keyless()
}

// ensureOpenUnchecked opens the store if it is closed, leaving the check
// (and what stays in doubt) to the next reopen.
func (r *h146Run) ensureOpenUnchecked() {
	if r.s != nil {
		return
	}
	s, err := r.open(r.path)
	if err != nil {
		r.fail("Open once space was freed: %v", err)
		r.reopen()
		return
	}
	r.s = s
	r.logf("opened")
}

func (r *h146Run) ensureOpen() {
	if r.s == nil {
		r.reopen()
	}
}

func (r *h146Run) ops(n int) {
	for range n {
		_ = r.do(r.gen(false))
	}
}

// hookFault fails the k-th call of one fault point (once or sticky).
func (r *h146Run) hookFault(kind string) {
	r.ensureOpen()
	k, sticky := 1+r.rng.IntN(6), r.rng.IntN(3) == 0
	if kind == "syncdir" {
		k = 1 + r.rng.IntN(2) // Compact's alone
	}
	r.arm.set(kind, k, sticky)
	r.logf("-- fault: %s at call %d (sticky %t)", kind, k, sticky)
	r.fault = true
	n := 4 + r.rng.IntN(8)
	for i := range n {
		op := r.gen(false)
		if kind == "syncdir" && i%3 == 1 {
			op.Kind = "compact"
		}
		_ = r.do(op)
	}
	r.closeStore()
	if r.arm.fired > 0 {
		r.stats["fired"]++
	}
	r.arm.set("", 0, false)
	if r.rng.IntN(2) == 0 {
		r.reopen()
	}
}

// fullDisk fills the file system to a few KiB, runs calls, frees it and
// requires the same open store to write again.
func (r *h146Run) fullDisk() {
	r.ensureOpen()
	filler := filepath.Join(filepath.Dir(r.dir), "filler")
	free := r.rng.Int64N(256 << 10)
	if err := fillFS(filler, free); err != nil {
		r.t.Fatal(err)
	}
	r.logf("-- fault: full disk (%d bytes free)", free)
	r.fault = true
	r.ops(4 + r.rng.IntN(6))
	if r.rng.IntN(3) == 0 {
		// Closed while full: Close may keep the log (ErrDiskFull), for
		// the next Open (maybe killed in its replay) to apply.
		r.closeStore()
	}
	if err := removeFiller(filler); err != nil {
		r.t.Fatal(err)
	}
	r.logf("space freed")
	r.ensureOpenUnchecked()
	for range 2 {
		op := r.gen(false)
		// (Flush, and ApplyLog with NoWAL, report the Async failures
		// they passed by.)
		if err := r.do(op); errors.Is(err, ckpt.ErrDiskFull) && op.Kind != "flush" && op.Kind != "applylog" {
			r.fail("%s after the space was freed: %v", op.Kind, err)
		}
	}
	r.closeStore()
	if r.rng.IntN(2) == 0 {
		r.reopen()
	}
}

// kill runs calls in a child process killed at its k-th fault point,
// then maybe a second one killed early (in its Open's replay), and maybe
// examines a flipped copy of what the kill left.
func (r *h146Run) kill() {
	r.closeStore()
	k := 1 + r.rng.IntN(20)
	fail := ""
	if r.rng.IntN(3) == 0 {
		// A failed fsync or commit first, then the kill before any
		// Close: what a failed store leaves to a crash.
		fail = fmt.Sprintf("%s:%d", []string{"fsync", "commit"}[r.rng.IntN(2)], 1+r.rng.IntN(5))
		k += 5
	}
	r.logf("-- fault: kill at point %d (failing %q)", k, fail)
	r.fault = true
	if r.child(k, 6+r.rng.IntN(6), fail) && r.rng.IntN(2) == 0 {
		k = 1 + r.rng.IntN(4)
		r.logf("-- fault: kill again at point %d", k)
		r.child(k, 2, "")
	}
	if r.rng.IntN(3) == 0 {
		r.flip()
	}
}

// fullKill kills a child on a full disk, opens the store while the disk
// is still full (it opens, or fails with ErrDiskFull), then frees it.
func (r *h146Run) fullKill() {
	r.closeStore()
	filler := filepath.Join(filepath.Dir(r.dir), "filler")
	free := r.rng.Int64N(256 << 10)
	if err := fillFS(filler, free); err != nil {
		r.t.Fatal(err)
	}
	k := 1 + r.rng.IntN(20)
	r.logf("-- fault: full disk (%d bytes free), kill at point %d", free, k)
	r.fault = true
	r.child(k, 6+r.rng.IntN(6), "full")
	s, err := r.open(r.path)
	r.logf("open on the full disk: %v", err)
	switch {
	case err == nil:
		r.s = s
		r.closeStore()
	case !errors.Is(err, ckpt.ErrDiskFull):
		r.fail("Open on the full disk after the kill: %v", err)
	}
	if err := removeFiller(filler); err != nil {
		r.t.Fatal(err)
	}
	r.logf("space freed")
	r.reopen()
}

// child runs n drawn calls in a child process killed at fault point k,
// applies what it reported to the model and says whether it was killed.
func (r *h146Run) child(k, n int, fail string) bool {
	ops := make([]h146Op, n)
	for i := range ops {
		ops[i] = r.gen(true)
	}
	opsFile := filepath.Join(r.opsDir, "ops.json") // off the tmpfs, which may be full
	if err := h146WriteOps(opsFile, ops); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testchild.Binary(), "-test.run=^$")
	cmd.Env = childEnv("CKPT_FILE_CHILD=h146", "CKPT_CRASH_FILE="+r.path, h146KillEnv+"="+strconv.Itoa(k), h146FailEnv+"="+fail, h146ModeEnv+"="+r.modeKeys(r.keys), h146OpsEnv+"="+opsFile)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		r.fail("child hung (killed after 2 min): %s", stderr.String())
	}
	var ee *exec.ExitError
	killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	if err != nil && !killed {
		r.fail("child died: %v\n%s", err, stderr.String())
	}
	r.stats["kills"]++
	next := 0 // the first call not reported
	opened := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 4)
		switch f[0] {
		case "O":
			opened = f[1] == "ok"
			if !opened && (fail == "" || fail == "full" && !strings.Contains(sc.Text(), "disk full")) {
				r.fail("child's Open: %s", sc.Text())
			}
		case "R":
			i, _ := strconv.Atoi(f[1])
			op := ops[i]
			r.before = r.m.clone()
			st := h146OK
			if f[2] != "ok" {
				st = h146Err
				if f[2] != "nf" && fail == "" {
					r.fail("child: %s %s without a fault: %s", op.Kind, op.Tag, sc.Text())
				}
			}
			id := ""
			if len(f) > 3 && st == h146OK {
				id = f[3]
			}
			r.logf("child %s %s %s dur=%d: %s", op.Kind, op.Thread, op.Tag, op.Dur, strings.Join(f[2:], " "))
			r.replaced = f[2] == "rp"
			r.apply(op, id, st)
			next = i + 1
		case "C":
			r.logf("child close: %s", sc.Text())
			if f[1] == "ok" {
				r.flushed()
			} else if fail == "" {
				r.fail("child's Close: %s", sc.Text())
			}
		}
	}
	if killed && opened && next < len(ops) {
		op := ops[next]
		r.before = r.m.clone()
		r.logf("child killed in %s %s %s", op.Kind, op.Thread, op.Tag)
		r.replaced = false
		r.apply(op, "", h146Doubt)
	}
	r.logf("child killed: %t", killed)
	return killed
}

// h146Child is the child process: it opens the store, runs the calls and
// closes it, killing itself at the k-th fault point.
func h146Child(path string) int {
	ctx := context.Background()
	ops, err := h146ReadOps(os.Getenv(h146OpsEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	k, _ := strconv.Atoi(os.Getenv(h146KillEnv))
	failKind, failAt, _ := strings.Cut(os.Getenv(h146FailEnv), ":")
	fk, _ := strconv.Atoi(failAt)
	n, kinds := 0, map[string]int{}
	var mu sync.Mutex
	opts := ckpt.WithFaultPoints(h146ModeOpts(os.Getenv(h146ModeEnv)), 64<<10, func(point string) error {
		mu.Lock()
		defer mu.Unlock()
		if n++; n == k {
			testchild.KillSelf()
		}
		if kinds[point]++; point == failKind && kinds[point] == fk {
			return errH146
		}
		return nil
	})
	s, err := ckpt.Open(path, opts)
	if err != nil {
		fmt.Printf("O err %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return 0
	}
	fmt.Println("O ok")
	for i, op := range ops {
		id, err := h146Do(ctx, s, op, opts)
		switch {
		case err == nil:
			fmt.Printf("R %d ok %s\n", i, id)
		case h146Expected(err):
			fmt.Printf("R %d nf %v\n", i, strings.ReplaceAll(err.Error(), "\n", " "))
		case h146Replaced(err):
			fmt.Printf("R %d rp %v\n", i, strings.ReplaceAll(err.Error(), "\n", " "))
		default:
			fmt.Printf("R %d err %v\n", i, strings.ReplaceAll(err.Error(), "\n", " "))
		}
	}
	if err := s.Close(); err != nil {
		fmt.Printf("C err %v\n", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		fmt.Println("C ok")
	}
	return 0
}

// flip examines a copy of the closed store (and its log, if a kill left
// one) with one byte flipped: the user's steps (Open, RecoverLog where
// Open refuses the log) either refuse it or give a store whose reads are
// exact or fail, never wrong, and whose Verify is clean exactly when
// every read works.
func (r *h146Run) flip() {
	r.closeStore()
	dst := filepath.Join(r.dir, "flip")
	_ = os.RemoveAll(dst)
	if err := os.Mkdir(dst, 0o700); err != nil {
		r.t.Fatal(err)
	}
	defer os.RemoveAll(dst)
	fp := filepath.Join(dst, "s.db")
	which := fp
	for _, suf := range []string{"", "-wal"} {
		data, err := os.ReadFile(r.path + suf)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(fp+suf, data, 0o600); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "o.db"+suf), data, 0o600); err != nil {
			r.t.Fatal(err)
		}
		if suf != "" && r.rng.IntN(2) == 0 {
			which = fp + suf
		}
	}
	// History (the order index, which List does not read) of the copy
	// before the flip.
	var pristine map[string][]string
	if o, err := r.open(filepath.Join(dst, "o.db")); err == nil {
		pristine, err = r.histories(o)
		_ = o.Close()
		if err != nil {
			r.fail("History of an undamaged copy: %v", err)
		}
	}
	data, err := os.ReadFile(which)
	if err != nil || len(data) == 0 {
		return
	}
	off := r.rng.IntN(len(data))
	for try := 0; try < 32 && data[off] == 0; try++ {
		off = r.rng.IntN(len(data)) // rather a byte something wrote
	}
	data[off] ^= byte(1 + r.rng.IntN(255))
	if err := os.WriteFile(which, data, 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.stats["flips"]++
	what := fmt.Sprintf("a copy with byte %d of %s flipped", off, filepath.Base(which))
	r.logf("-- fault: %s", what)
	r.recovered = false
	// The damage may take a Rekey's groups (RecoverLog keeps the log
	// before it): the copy opens with every key the round used.
	keyed := r.opts
	defer func() { r.opts = keyed }()
	r.opts = ckpt.WithFaultPoints(h146ModeOpts(r.modeKeys(r.allKeys)), 64<<10, r.arm.at)
	s, err := r.open(fp)
	if err != nil {
		r.logf("%s: refused: %v", what, err)
		r.stats["flip-refused"]++
		// A flipped format version reads as a later build's file, a
		// flipped key id as a key not given.
		if !errors.Is(err, ckpt.ErrCorrupt) && !errors.Is(err, ckpt.ErrFormatVersion) && !errors.Is(err, ckpt.ErrKey) {
			r.fail("%s: refused without ErrCorrupt: %v", what, err)
		}
		return
	}
	defer s.Close()
	relaxed := r.m.clone()
	// The damage may have taken any of it, and RecoverLog keeps the
	// log's records before the damage: what later groups deleted or
	// replaced may show again, as it was.
	for _, c := range relaxed.cps {
		if c.deleted {
			c.st = h146May
		}
		doubt([]*h146Cp{c})
		for _, p := range c.pw {
			p.must = false
			maps.Copy(p.vals, p.ever)
		}
	}
	problems, _, readErr := relaxed.check(r.ctx, s)
	if len(problems) > 0 {
		r.fail("%s: wrong reads:\n%s", what, strings.Join(problems, "\n"))
	}
	rep, verr := s.Verify(r.ctx, ckpt.VerifyOptions{})
	clean := verr == nil && rep.OK()
	if readErr == nil && !r.recovered && which == fp && pristine != nil {
		// Damage of the file that Open took (not what RecoverLog
		// accepted: a step back past a damaged meta page changes
		// History rightly; nor the log's: Open drops a damaged last
		// record as a torn tail, an in-doubt or NoSync group, which a
		// power cut may take) must fail History or leave it as it was.
		h, herr := r.histories(s)
		switch {
		case herr != nil:
			readErr = herr
		case !reflect.DeepEqual(h, pristine):
			if keep := os.Getenv("CKPT_H146_KEEP"); keep != "" {
				// The store before the flip, and what happened, to look into.
				k := filepath.Join(keep, strings.ReplaceAll(r.name, " ", "_"))
				_ = os.MkdirAll(k, 0o700)
				copyPairTo(r.path, filepath.Join(k, "before.db"))
				_ = os.WriteFile(filepath.Join(k, "what"), []byte(what+"\n"+strings.Join(r.log, "\n")), 0o600)
			}
			r.fail("%s: History without an error, but not as before the flip:\n  before %v\n  after  %v", what, pristine, h)
		}
	}
	if clean && readErr != nil {
		r.fail("%s: Verify clean, but a read failed: %v", what, readErr)
	}
	r.logf("%s: read error %v, verify clean %t", what, readErr, clean)
	switch {
	case readErr != nil:
		r.stats["flip-read-failed"]++
	case !clean:
		r.stats["flip-verify-only"]++ // damage no read of the model's reaches
		r.t.Logf("%s: %s: every read works, Verify: %v %+v", r.name, what, verr, rep)
	}
	if readErr != nil || !clean {
		r.salvage(s, relaxed, what)
	}
}

// histories reads History of every thread s lists.
func (r *h146Run) histories(s *ckpt.Store) (map[string][]string, error) {
	out := map[string][]string{}
	for ti, err := range s.Threads(r.ctx) {
		if err != nil {
			return nil, err
		}
		var ids []string
		for snap, err := range s.History(r.ctx, ti.ThreadID, ckpt.ListOptions{}) {
			if err != nil {
				return nil, err
			}
			ids = append(ids, snap.CheckpointID)
		}
		out[ti.ThreadID] = ids
	}
	return out, nil
}

// salvage takes the documented way out of a damaged file (docs/cli.md:
// export the intact threads, import them into a new store): every thread
// that reads whole exports, and the new store holds it exactly.
func (r *h146Run) salvage(s *ckpt.Store, relaxed *h146Model, what string) {
	dst := filepath.Join(r.dir, "flip", "salvage.db")
	d, err := ckpt.Open(dst, h146ModeOpts(r.modeKeys(r.keys)))
	if err != nil {
		r.t.Fatal(err)
	}
	defer d.Close()
	var saved []string
	for _, th := range relaxed.threads() {
		whole := true
		for _, err := range s.List(r.ctx, ckpt.ListOptions{ThreadID: th}) {
			if err != nil {
				whole = false
				break
			}
		}
		var buf bytes.Buffer
		_, err := s.Export(r.ctx, &buf, ckpt.ExportOptions{Threads: []string{th}})
		switch {
		case errors.Is(err, ckpt.ErrNotFound):
			continue // gone with the damage (or never there)
		case err != nil && whole:
			r.fail("%s: thread %q reads whole but does not export: %v", what, th, err)
			continue
		case err != nil:
			continue
		}
		if _, err := d.Import(r.ctx, &buf, ckpt.ImportOptions{}); err != nil {
			r.fail("%s: import of thread %q's export: %v", what, th, err)
			continue
		}
		saved = append(saved, th)
	}
	r.stats["salvaged-threads"] += len(saved)
	if len(saved) == 0 {
		return
	}
	problems, _, readErr := relaxed.check(r.ctx, d, saved...)
	if len(problems) > 0 || readErr != nil {
		r.fail("%s: the salvaged store: read error %v; problems:\n%s", what, readErr, strings.Join(problems, "\n"))
	}
	if rep, err := d.Verify(r.ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		r.fail("%s: Verify of the salvaged store: %v %+v", what, err, rep)
	}
}

// checkBackups opens each backup alone and each import store.
func (r *h146Run) checkBackups() {
	for _, b := range r.backups {
		_, statErr := os.Stat(b.path)
		if b.file && r.checkImportFile(b, statErr) {
			continue
		}
		if b.st == h146Err && b.thread == "" {
			if statErr == nil {
				r.fail("BackupFile %s failed and left the file", filepath.Base(b.path))
			}
			continue
		}
		if statErr != nil {
			if b.st == h146OK {
				r.fail("%s returned nil and is not there: %v", filepath.Base(b.path), statErr)
			}
			continue
		}
		opts := h146ModeOpts(r.modeKeys(r.allKeys))
		opts.ReadOnly = b.thread == "" // an import store a kill may have left half-written: read-write
		s, err := ckpt.Open(b.path, opts)
		if err != nil {
			r.fail("%s: open alone: %v", filepath.Base(b.path), err)
			continue
		}
		want := b.want
		var only []string
		if b.thread != "" {
			only = []string{b.thread}
			if b.st != h146OK { // all or nothing
				n := 0
				for _, err := range s.List(r.ctx, ckpt.ListOptions{}) {
					if err == nil {
						n++
					}
				}
				if n == 0 {
					_ = s.Close()
					continue
				}
				if b.st == h146Err {
					r.fail("import %s failed and left %d checkpoints", filepath.Base(b.path), n)
				}
			}
		}
		problems, _, readErr := want.check(r.ctx, s, only...)
		if len(problems) > 0 || readErr != nil {
			r.fail("%s (%v): read error %v; problems:\n%s", filepath.Base(b.path), b.st, readErr, strings.Join(problems, "\n"))
		}
		if rep, err := s.Verify(r.ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
			r.fail("%s: Verify: %v %+v", filepath.Base(b.path), err, rep)
		}
		_ = s.Close()
		r.stats["backups"]++
	}
}

func h146Round(t *testing.T, base string, full bool, seed uint64, round int) map[string]int {
	r := &h146Run{t: t, ctx: context.Background(), rng: rand.New(rand.NewPCG(seed, uint64(round))),
		m: newH146Model(), name: fmt.Sprintf("seed %d round %d (%s)", seed, round, []string{"plain", "sealed", "nowal"}[round%3]),
		full: full, stats: map[string]int{}, opsDir: t.TempDir()}
	r.dir = filepath.Join(base, fmt.Sprintf("r%d", round))
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(r.dir)
	r.path = filepath.Join(r.dir, "s.db")
	r.mode = []string{"plain", "sealed", "nowal"}[round%3]
	r.keys, r.allKeys = []uint32{146}, []uint32{146}
	r.opts = ckpt.WithFaultPoints(h146ModeOpts(r.modeKeys(r.keys)), 64<<10, r.arm.at)
	r.reopen()
	r.ops(6)
	kinds := []string{"fsync", "commit", "syncdir", "kill", "kill", "flip"}
	if full {
		kinds = append(kinds, "full", "full", "fullkill")
	}
	for range 2 + r.rng.IntN(2) {
		kind := kinds[r.rng.IntN(len(kinds))]
		switch kind {
		case "fsync", "commit", "syncdir":
			r.hookFault(kind)
		case "full":
			r.fullDisk()
		case "fullkill":
			r.fullKill()
		case "kill":
			r.kill()
		case "flip":
			r.flip()
		}
		r.stats[kind]++
	}
	r.reopen()
	r.ops(3)
	r.reopen()
	r.closeStore()
	r.checkBackups()
	return r.stats
}

func TestH146FaultChains(t *testing.T) {
	seed, rounds := uint64(146), 20
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H146_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("CKPT_H146_ROUNDS")); err == nil {
		rounds = v
	}
	base, full := t.TempDir(), false
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.Itoa(96<<20)); err == nil {
		t.Cleanup(func() {
			if err := syscall.Unmount(mnt, 0); err != nil {
				_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
			}
		})
		base, full = mnt, true
	} else {
		t.Logf("no tmpfs (%v): no full-disk faults", err)
	}
	total := map[string]int{}
	for i := range rounds {
		for k, v := range h146Round(t, base, full, seed, i) {
			total[k] += v
		}
		if t.Failed() {
			break
		}
	}
	t.Logf("seed %d, %d rounds: %v", seed, rounds, total)
}

// copyPairTo copies a store file and its log, best effort.
func copyPairTo(from, to string) {
	for _, suf := range []string{"", "-wal"} {
		if data, err := os.ReadFile(from + suf); err == nil {
			_ = os.WriteFile(to+suf, data, 0o600)
		}
	}
}
