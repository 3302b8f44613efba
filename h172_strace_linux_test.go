//go:build linux

package ckpt_test

// h172: faults injected at the system call, as an outside fault harness
// does, rather than through the engine's hooks. strace runs the workload
// of h172_child_linux_test.go and injects one fault into one system call
// class at a chosen call number (strace -e inject=SYS:error=EIO:when=K,
// ENOSPC, or signal=KILL; an ENOSPC now and then from K on, "K+"), so
// bbolt's own writes, fdatasyncs, renames, truncates and mmaps are hit
// too, not only the calls the engine's hooks wrap. Then the parent
// reopens the file with the plain library (RecoverLog first if Open
// refuses it with ErrCorrupt, which is itself reported) and checks:
// every acknowledged write reads back exactly (each thread's History and
// Latest, the pending writes), nothing whose call returned an error
// shows, the child neither panicked nor hung nor exited otherwise than the
// fault allows, a write begun after another returned ErrFailed was not
// acknowledged, Verify is clean, and the store writes on; a backup or an
// import that returned nil holds everything acknowledged before it began.
// CKPT_H172_SEED (default 172), CKPT_H172_ROUNDS (default 10);
// CKPT_REQUIRE_STRACE=1 fails instead of skipping where strace is missing
// or cannot trace.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/testchild"
)

// h172Classes are the system call classes faults go into. mmap is traced
// with -P (the store's file only): the Go runtime's own anonymous mappings
// failing would kill any Go program, not a finding about the store. (No
// fallocate: neither the store nor bbolt calls it on Linux; a 600-round
// run with it in hit none.) A failed write of the runtime's own eventfd
// (netpollBreak) kills any Go program too: such a round is checked as a
// kill.
var h172Classes = []string{"fdatasync", "fsync", "pwrite64", "write", "ftruncate",
	"renameat", "openat", "mmap", "flock", "unlinkat", "pread64", "close", "newfstatat", "fstat"}

// h172Fault is one round's fault.
type h172Fault struct {
	mode string // write | maint
	sys  string
	kind string // EIO | ENOSPC | KILL
	when int
	on   bool // from when on ("when+")
	hits int  // injections made
	// attach: strace attaches once the child opened the store, so the
	// fault lands in the writes and maintenance, not in Open.
	attach bool
	steps  int
	// Set by h172Round: the store's path and the child's report.
	path   string
	report []h172Line
}

func (f h172Fault) String() string {
	on := ""
	if f.on {
		on = "+"
	}
	at := ""
	if f.attach {
		at = " (attached after Open)"
	}
	return fmt.Sprintf("%s %s:%s:when=%d%s%s", f.mode, f.sys, f.kind, f.when, on, at)
}

func h172Strace(t *testing.T) string {
	t.Helper()
	require := os.Getenv("CKPT_REQUIRE_STRACE") == "1"
	skip := func(why string) {
		if require {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	bin, err := exec.LookPath("strace")
	if err != nil {
		skip("no strace: " + err.Error())
	}
	if out, err := exec.Command(bin, "-f", "-qq", "-o", "/dev/null", "-e", "trace=getpid", "true").CombinedOutput(); err != nil {
		skip(fmt.Sprintf("strace cannot trace here: %v: %s", err, out))
	}
	return bin
}

// h172CanAttach says whether strace may attach to a running process that
// is not its own child (strace -p): Yama's ptrace_scope 1, Ubuntu's
// default, allows that only to root. Where it may not, the rounds that
// would attach after Open run under strace from the start instead.
func h172CanAttach(t *testing.T, strace string) bool {
	t.Helper()
	sl := exec.Command("sleep", "30")
	if err := sl.Start(); err != nil {
		return false
	}
	defer func() { _ = sl.Process.Kill(); _ = sl.Wait() }()
	st := exec.Command(strace, "-qq", "-o", "/dev/null", "-e", "trace=none", "-p", strconv.Itoa(sl.Process.Pid))
	if err := st.Start(); err != nil {
		return false
	}
	done := make(chan error, 1)
	go func() { done <- st.Wait() }()
	for range 1000 {
		select {
		case <-done:
			return false // it could not attach, and said so
		default:
		}
		if h172AllTraced(sl.Process.Pid) {
			_ = st.Process.Kill()
			<-done
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = st.Process.Kill()
	<-done
	return false
}

func TestH172StraceFaults(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs child processes under strace")
	}
	strace := h172Strace(t)
	seed, rounds := uint64(172), 10
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H172_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("CKPT_H172_ROUNDS")); err == nil {
		rounds = v
	}
	steps := map[string]int{"write": 10, "maint": 6, "replay": 4}
	attach := h172CanAttach(t, strace)
	if !attach {
		t.Log("strace -p cannot attach here (ptrace_scope?): every round runs under strace from the start")
	}
	// How often each class is called in a run without a fault: the
	// range a call number is drawn from.
	counts := map[string]map[string]int{}
	for _, mode := range []string{"write", "maint", "replay"} {
		counts[mode] = h172Profile(t, strace, mode, steps[mode])
		t.Logf("%s: calls without a fault: %v", mode, counts[mode])
	}
	only := os.Getenv("CKPT_H172_ONLY") // one round of the seed's, to look at again
	rng := rand.New(rand.NewPCG(seed, 172))
	tally := map[string]int{}
	ran, landed := 0, 0
	for round := range rounds {
		mode := []string{"write", "maint", "replay"}[round%3]
		f := h172Fault{mode: mode, sys: h172Classes[rng.IntN(len(h172Classes))], steps: steps[mode]}
		f.kind = []string{"EIO", "ENOSPC", "KILL"}[rng.IntN(3)]
		n := max(counts[mode][f.sys], 1)
		// strace counts the calls of each thread (tracee) apart, and the
		// store's calls are spread over the runtime's threads: a fault
		// from the k-th call of one thread on, with k small enough to
		// come; the log says which calls it hit.
		f.when = 1 + rng.IntN(max(n/3, 2))
		f.on = f.kind == "ENOSPC" && rng.IntN(3) == 0
		// A replay round faults the Open that replays a killed
		// writer's log.
		f.attach = mode != "replay" && rng.IntN(3) != 0 && attach
		if only != "" && only != strconv.Itoa(round) {
			continue
		}
		if fs := strings.Fields(os.Getenv("CKPT_H172_FAULT")); len(fs) == 4 {
			// "mode sys kind when[+]": every round that fault.
			f.mode, f.sys, f.kind, f.steps = fs[0], fs[1], fs[2], steps[fs[0]]
			w, on := strings.CutSuffix(fs[3], "+")
			f.when, _ = strconv.Atoi(w)
			f.on = on
			f.attach = f.attach && f.mode != "replay"
		}
		res := h172Round(t, strace, &f)
		ran++
		if f.hits > 0 {
			landed++
			tally[f.sys+" "+f.kind]++
		} else {
			tally["(no call reached) "+f.sys]++
		}
		t.Logf("round %d: %s: %s", round, f, res)
	}
	keys := make([]string, 0, len(tally))
	for k := range tally {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("rounds %s: %d", k, tally[k])
	}
	// strace counts each thread's calls apart, so a round's call number
	// may never come (its fault then lands nowhere, and the round checks
	// a run without one): a sweep none of whose faults landed tested
	// nothing, and must not pass as if it had.
	if ran > 0 && landed == 0 {
		t.Errorf("none of the %d rounds' faults landed (no call reached its number): the sweep tested nothing", ran)
	}
}

// h172Cmd is the child under strace with args, reporting into rep.
func h172Cmd(strace string, args []string, mode string, steps int, path string, rep *os.File) *exec.Cmd {
	args = append(args, testchild.Binary(), "-test.run=^$")
	cmd := exec.Command(strace, args...)
	cmd.Env = childEnv(fileChildEnv+"=h172", crashFileEnv+"="+path, h172ModeEnv+"="+mode,
		h172StepsEnv+"="+strconv.Itoa(steps))
	cmd.ExtraFiles = []*os.File{rep}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func h172RepFile(t *testing.T, dir string) *os.File {
	t.Helper()
	rep, err := os.Create(filepath.Join(dir, "report"))
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Truncate(h172RepSize); err != nil {
		t.Fatal(err)
	}
	return rep
}

// h172Profile counts each class's calls in a run without a fault.
func h172Profile(t *testing.T, strace, mode string, steps int) map[string]int {
	dir := t.TempDir()
	rep := h172RepFile(t, dir)
	defer rep.Close()
	path := filepath.Join(dir, "s.db")
	prof := filepath.Join(dir, "prof")
	var classes []string
	for _, c := range h172Classes {
		if c != "mmap" {
			classes = append(classes, c)
		}
	}
	seed := h246Seed(t, mode, path)
	cmd := h172Cmd(strace, []string{"-f", "-qq", "-c", "-o", prof, "-e", "trace=" + strings.Join(classes, ",")}, mode, steps, path, rep)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("profile run: %v\n%s", err, out)
	}
	counts := map[string]int{}
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		fs := strings.Fields(l)
		if len(fs) >= 5 {
			if n, err := strconv.Atoi(fs[3]); err == nil {
				counts[fs[len(fs)-1]] = n
			}
		}
	}
	h172Check(t, "profile "+mode, path, h172Opts(mode), h172After(seed, h172Parse(t, rep)), false, nil)
	// The store file's mappings, counted apart (-P).
	path2 := filepath.Join(t.TempDir(), "s.db")
	rep = h172RepFile(t, filepath.Dir(path2))
	defer rep.Close()
	seed = h246Seed(t, mode, path2)
	cmd = h172Cmd(strace, []string{"-f", "-qq", "-c", "-o", prof, "-P", path2, "-e", "trace=mmap"}, mode, steps, path2, rep)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("profile run: %v\n%s", err, out)
	}
	if b, err = os.ReadFile(prof); err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(b)) {
		fs := strings.Fields(l)
		if len(fs) >= 5 && fs[len(fs)-1] == "mmap" {
			counts["mmap"], _ = strconv.Atoi(fs[3])
		}
	}
	h172Check(t, "profile mmap "+mode, path2, h172Opts(mode), h172After(seed, h172Parse(t, rep)), false, nil)
	return counts
}

// h172Round runs one faulted child and checks what it left.
func h172Round(t *testing.T, strace string, f *h172Fault) string {
	t.Helper()
	dir := t.TempDir()
	rep := h172RepFile(t, dir)
	defer rep.Close()
	path := filepath.Join(dir, "s.db")
	inj := "error=" + f.kind
	if f.kind == "KILL" {
		inj = "signal=KILL"
	}
	when := strconv.Itoa(f.when)
	if f.on {
		when += "+"
	}
	var before []h172Line
	switch f.mode {
	case "replay":
		before = h172Crashed(t, path)
	case "rekey", "rekey-nowal":
		before = h246Seed(t, f.mode, path)
	}
	trace := filepath.Join(dir, "trace")
	args := []string{"-f", "-qq", "-y", "-o", trace}
	if f.sys == "mmap" {
		args = append(args, "-P", path)
	}
	sys := f.sys
	if sys == "renameat" {
		sys = "renameat,renameat2"
	}
	args = append(args, "-e", "trace="+sys, "-e", "inject="+sys+":"+inj+":when="+when)
	var stderr bytes.Buffer
	var cmd *exec.Cmd
	var err error
	if f.attach {
		cmd, err = h172Attach(t, strace, args, f, path, rep, &stderr)
	} else {
		cmd = h172Cmd(strace, args, f.mode, f.steps, path, rep)
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		err = h172Wait(cmd)
	}
	if errors.Is(err, errH172Hung) {
		t.Errorf("%s: the child hung (killed after 2 min); stderr:\n%s", f, stderr.String())
		return "hung"
	}
	killed := false
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL && f.kind == "KILL" {
				killed = true
				err = nil
			}
		}
	}
	tr, _ := os.ReadFile(trace)
	runtimeDeath := strings.Contains(stderr.String(), "fatal error: runtime: netpollBreak write failed")
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 2 && bytes.Contains(tr, []byte("<anon_inode:[eventfd]>, \"\\1\\0\\0\\0\\0\\0\\0\\0\", 8) = -1")) {
		// The same, its message lost to a failed write of stderr.
		runtimeDeath = true
	}
	if runtimeDeath {
		// The runtime's own eventfd (every Go program dies of this
		// one: not the store's file); what the store left is checked
		// as a kill's.
		killed = true
		err = nil
	}
	if err != nil || !runtimeDeath && (strings.Contains(stderr.String(), "panic:") || strings.Contains(stderr.String(), "fatal error:")) {
		t.Errorf("%s: the child died: %v; stderr:\n%s", f, err, stderr.String())
		return "died"
	}
	ev := h172After(before, h172Parse(t, rep))
	f.path, f.report = path, ev
	hits, first := 0, ""
	if b, err := os.ReadFile(trace); err == nil {
		for l := range strings.Lines(string(b)) {
			if strings.Contains(l, "INJECTED") {
				if hits++; first == "" {
					first = strings.TrimSpace(l)
					if _, after, ok := strings.Cut(first, " "); ok {
						first = after // the thread id
					}
					if len(first) > 160 {
						first = first[:160]
					}
				}
			}
		}
	}
	if killed {
		hits = 1 // strace is killed with its tracee before it writes the line
	}
	f.hits = hits
	failed := t.Failed()
	// A failed fsync of the store's file or log is never swallowed: the
	// call it was for fails, or the store does (every later call says so).
	if !killed && (f.sys == "fdatasync" || f.sys == "fsync") {
		for l := range strings.Lines(string(tr)) {
			if strings.Contains(l, "INJECTED") && (strings.Contains(l, "<"+path+">") || strings.Contains(l, "<"+path+"-wal>")) {
				if !h172AnyError(ev) {
					t.Errorf("%s: %s: no call returned an error", f, strings.TrimSpace(l))
				}
				break
			}
		}
	}
	res := h172Check(t, f.String(), path, h172Opts(f.mode), ev, killed, f)
	if !failed && t.Failed() || os.Getenv("CKPT_H172_DUMP") != "" {
		b, _ := os.ReadFile(trace)
		var rl []string
		for _, l := range ev {
			rl = append(rl, fmt.Sprintf("%s %d %s %d %s", l.kind, l.seq, l.thread, l.i, l.rest))
		}
		t.Logf("%s: the report:\n%s\nthe trace:\n%s", f, strings.Join(rl, "\n"), b)
	}
	return fmt.Sprintf("injected %d (first: %s): %s", hits, first, res)
}

// h172After is the report ev of a child that ran after the one (or the
// seeding) that reported before: its sequence numbers follow before's.
func h172After(before, ev []h172Line) []h172Line {
	if before == nil {
		return ev
	}
	for i := range ev {
		ev[i].seq += 1 << 20
	}
	return append(before, ev...)
}

var errH172Hung = errors.New("hung")

// h172Wait waits for cmd, at most 2 minutes (then kills its process
// group: a hang).
func h172Wait(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return errH172Hung
	}
}

// h172Attach starts the child without strace and, once it has opened the
// store, attaches strace to every thread of it (strace counts each
// thread's calls from there), then lets it write. It returns the child's
// own exit.
func h172Attach(t *testing.T, strace string, args []string, f *h172Fault, path string, rep *os.File, stderr *bytes.Buffer) (*exec.Cmd, error) {
	t.Helper()
	cmd := exec.Command(testchild.Binary(), "-test.run=^$")
	cmd.Env = childEnv(fileChildEnv+"=h172", crashFileEnv+"="+path, h172ModeEnv+"="+f.mode,
		h172StepsEnv+"="+strconv.Itoa(f.steps), h172WaitEnv+"=1")
	cmd.ExtraFiles = []*os.File{rep}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = stderr
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
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		in.Close()
		return cmd, h172Wait(cmd) // Open failed: nothing to fault
	}
	pid := cmd.Process.Pid
	st := exec.Command(strace, append(args, "-p", strconv.Itoa(pid))...)
	var sterr bytes.Buffer
	st.Stderr = &sterr
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	// Every thread traced before the child goes on.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if h172AllTraced(pid) {
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = st.Process.Kill()
			t.Fatalf("strace -p did not attach: %s", sterr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, _ = in.Write([]byte("go\n"))
	in.Close()
	err = h172Wait(cmd)
	if serr := h172Wait(st); errors.Is(serr, errH172Hung) {
		t.Errorf("%s: strace did not end with its tracee", f)
	}
	stderr.Write(sterr.Bytes())
	return cmd, err
}

// h172Crashed leaves at path what a kill -9 of a writer leaves: a log
// with groups the file lacks. It returns the writer's report.
func h172Crashed(t *testing.T, path string) []h172Line {
	t.Helper()
	rep := h172RepFile(t, t.TempDir())
	defer rep.Close()
	cmd := exec.Command(testchild.Binary(), "-test.run=^$")
	cmd.Env = childEnv(fileChildEnv+"=h172", crashFileEnv+"="+path, h172ModeEnv+"=write",
		h172StepsEnv+"=1000")
	cmd.ExtraFiles = []*os.File{rep}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The writer is killed once it reported 40 acknowledged writes. A
	// writer that ended before (it failed) or stalled would leave this
	// loop spinning until the binary's timeout: fail with what it said.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b := make([]byte, h172RepSize)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		n, _ := rep.ReadAt(b, 0)
		if bytes.Count(b[:n], []byte("\nA ")) >= 40 {
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("the writer ended (%v) before it acknowledged 40 writes; it reported:\n%s", err, b[:n])
		default:
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			t.Fatalf("the writer acknowledged fewer than 40 writes in 2 minutes; it reported:\n%s", b[:n])
		}
		time.Sleep(time.Millisecond)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
	return h172Parse(t, rep)
}

// h172AllTraced says whether every thread of pid has a tracer.
func h172AllTraced(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			return false
		}
		for l := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(l, "TracerPid:"); ok && strings.TrimSpace(v) == "0" {
				return false
			}
		}
	}
	return true
}

// h172AnyError says whether a call of the report returned an error.
func h172AnyError(ev []h172Line) bool {
	for _, l := range ev {
		switch {
		case l.kind == "E" || l.kind == "WE" || l.kind == "FE":
			return true
		case strings.HasPrefix(l.rest, "err"):
			return true
		}
	}
	return false
}

// h172Line is one report line.
type h172Line struct {
	kind, thread, rest string
	seq                int64
	i                  int
}

func h172Parse(t *testing.T, rep *os.File) []h172Line {
	t.Helper()
	b := make([]byte, h172RepSize)
	if _, err := rep.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	// A kill in the middle of a line's copy leaves it without its end.
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var ls []h172Line
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fs := strings.SplitN(sc.Text(), " ", 5)
		if len(fs) < 3 || (fs[0] == "M" && len(fs) < 5) {
			t.Fatalf("a report line cut short: %q", sc.Text())
		}
		var l h172Line
		l.kind = fs[0]
		l.seq, _ = strconv.ParseInt(fs[1], 10, 64)
		switch l.kind {
		case "O", "C", "V", "L", "X":
			l.rest = strings.Join(fs[2:], " ")
		case "M":
			l.thread = fs[2] // the op
			l.i, _ = strconv.Atoi(fs[3])
			l.rest = fs[4]
		default:
			l.thread = fs[2]
			l.i, _ = strconv.Atoi(fs[3])
			if len(fs) > 4 {
				l.rest = fs[4]
			}
		}
		ls = append(ls, l)
	}
	return ls
}
