//go:build unix

package main

// Session 9, h29: a write command's exit status tells the truth under
// faults. Exit 0: all of its change is in the file (read back through the
// library, which applies a kept log); non-zero: none of it, or the one
// line says what stands; a second file it writes (a new store, a backup,
// an export) is whole or absent, and nothing else is left in the
// directory. Unix only: the faults (RLIMIT_FSIZE, tmpfs) and the signal
// that resumes a paused command (interrupt_unix.go) are.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// h29Case is one write command run against copies of the spec14 fixture
// (existing.db, union.db, dump.jsonl).
type h29Case struct {
	name string
	args []string
	db   string // the store whose state is checked
	dst  string // a second file the command writes ("" if none)
	// left is what a failure's line must say about the files (one of);
	// partial is set for a command that commits in steps and says which
	// stand (its store need then be only consistent, not as before).
	left    []string
	partial bool
	json    bool // --json given: stdout must be JSON when it succeeds
}

func h29Cases() []h29Case {
	rmArgs := []string{"rm", "--yes", "union.db"}
	for i := range 12 {
		rmArgs = append(rmArgs, fmt.Sprintf("imp-%03d", i*10))
	}
	return []h29Case{
		{name: "import into a store", args: []string{"import", "existing.db", "dump.jsonl", "--json"}, db: "existing.db",
			left: []string{"existing.db left as it was"}, json: true},
		{name: "import into a new path", args: []string{"import", "new.db", "dump.jsonl", "--json"}, db: "new.db",
			left: []string{"nothing imported, no new.db created", "nothing imported, no file created"}, json: true},
		{name: "cp", args: []string{"cp", "existing.db", "mine-001", "copy"}, db: "existing.db",
			left: []string{"existing.db left as it was"}},
		{name: "rm", args: rmArgs, db: "union.db", left: []string{"deleted", "union.db left as it was"}, partial: true},
		{name: "gc", args: []string{"gc", "union.db", "--keep-last", "1", "--json"}, db: "union.db",
			left: []string{"run gc again to finish", "union.db left as it was"}, partial: true, json: true},
		{name: "compact", args: []string{"compact", "union.db", "--json"}, db: "union.db",
			left: []string{"union.db left as it was"}, json: true},
		{name: "backup", args: []string{"backup", "union.db", "bk.db", "--json"}, db: "union.db", dst: "bk.db",
			left: []string{"no bk.db written"}, json: true},
		{name: "export -o", args: []string{"export", "union.db", "-o", "out.jsonl"}, db: "union.db", dst: "out.jsonl",
			left: []string{"out.jsonl removed"}},
	}
}

// h29Dir is a new directory holding copies of the fixture's inputs.
func h29Dir(t *testing.T, fix string) string {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"existing.db", "union.db", "dump.jsonl"} {
		if err := copyFileErr(filepath.Join(fix, n), filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// h29Outcome is the state a run leaves: the store's and a second store's
// export (lossless, in a fixed order; "" if there is no file), or the
// second file's bytes.
type h29Outcome struct {
	db, dst string
}

// h29Export reads the store at name back as its export, by the binary
// (built without -race: the reading is the bulk of these tests).
func h29Export(t *testing.T, dir, name string) string {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
		return ""
	}
	r := runIn(t, dir, "", "export", name)
	if r.code != 0 || r.stdout == "" {
		t.Fatalf("reading %s back:\n%s", name, r)
	}
	return r.stdout
}

func h29State(t *testing.T, dir string, c h29Case) h29Outcome {
	t.Helper()
	o := h29Outcome{db: h29Export(t, dir, c.db)}
	switch dst := filepath.Join(dir, c.dst); {
	case c.dst == "":
	case strings.HasSuffix(c.dst, ".db"):
		o.dst = h29Export(t, dir, c.dst)
	default:
		if b, err := os.ReadFile(dst); err == nil {
			o.dst = string(b)
		}
	}
	return o
}

// TestH29WriteCommandsUnderAFileSizeLimit runs every write command under
// RLIMIT_FSIZE at limits from half the store's size up to what the
// command needs: whatever the limit, exit 0 means the whole change is
// there (and --json output stays JSON, a warning on stderr), a failure
// changes nothing (or says what stands) in one line that says so, and
// leaves no file behind.
func TestH29WriteCommandsUnderAFileSizeLimit(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit")
	}
	fix := spec14Fixture(t)
	for _, c := range h29Cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// What the command does without a limit, and what it needs.
			dir, before, after := h29Unlimited(t, fix, c)
			base := spec14Size(t, filepath.Join(fix, c.db))
			need := max(base, spec14Size(t, filepath.Join(dir, c.db)))
			limits := []int64{max(base/2, 8<<10), base, (base + need) / 2, need - 4<<10}
			if c.dst != "" {
				// The second file's own limit: half of it written.
				limits = append(limits, spec14Size(t, filepath.Join(dir, c.dst))/2)
			}
			slices.Sort(limits)
			limits = slices.DeleteFunc(slices.Compact(limits), func(l int64) bool { return l <= 0 })
			if testing.Short() {
				limits = limits[1:3]
			}
			outcomes := map[string]int{}
			for _, limit := range limits {
				dir := h29Dir(t, fix)
				cmd := exec.Command(prlimit, append([]string{fmt.Sprintf("--fsize=%d", limit), binPath}, c.args...)...)
				cmd.Dir = dir
				var stdout, stderr strings.Builder
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				werr := cmd.Run()
				r := result{args: c.args, stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
				if werr != nil && r.code <= 0 {
					t.Fatalf("limit %d: %v\n%s", limit, werr, r)
				}
				h29CheckRun(t, dir, c, fmt.Sprintf("file size limit %d", limit), r, before, after)
				outcomes[fmt.Sprintf("exit %d", r.code)]++
			}
			t.Logf("limits %v (the store %d bytes, the largest file without a limit %d): %v", limits, base, need, outcomes)
		})
	}
}

// TestH29WriteCommandsOnAFullTmpfs runs every write command in a tmpfs
// of the inputs' size plus a little room, up to more than it needs: the
// same rules as under a file size limit, with ENOSPC from any file (the
// log, the store, a second file) instead of EFBIG from one.
func TestH29WriteCommandsOnAFullTmpfs(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	probe := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	if out, err := exec.Command("umount", probe).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	fix := spec14Fixture(t)
	var inputs int64
	for _, n := range []string{"existing.db", "union.db", "dump.jsonl"} {
		inputs += spec14Size(t, filepath.Join(fix, n))
	}
	rooms := []int64{64 << 10, 1 << 20}
	if testing.Short() {
		rooms = rooms[:1]
	}
	for _, c := range h29Cases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, before, after := h29Unlimited(t, fix, c)
			outcomes := map[string]int{}
			for _, room := range rooms {
				mnt := t.TempDir()
				if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", inputs+room), "tmpfs", mnt).CombinedOutput(); err != nil {
					t.Fatalf("mount: %v %s", err, out)
				}
				func() {
					defer func() {
						if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
							t.Errorf("umount %s: %v %s", mnt, err, out)
						}
					}()
					for _, n := range []string{"existing.db", "union.db", "dump.jsonl"} {
						if err := copyFileErr(filepath.Join(fix, n), filepath.Join(mnt, n)); err != nil {
							t.Fatal(err)
						}
					}
					r := runIn(t, mnt, "", c.args...)
					h29CheckRun(t, mnt, c, fmt.Sprintf("tmpfs with %d bytes of room", room), r, before, after)
					outcomes[fmt.Sprintf("exit %d", r.code)]++
				}()
			}
			t.Logf("room %v beyond the inputs' %d bytes: %v", rooms, inputs, outcomes)
		})
	}
}

// h29Unlimited runs c with no fault in a copy of the fixture (dir) and
// returns what its files hold before and after.
func h29Unlimited(t *testing.T, fix string, c h29Case) (dir string, before, after h29Outcome) {
	t.Helper()
	dir = h29Dir(t, fix)
	before = h29State(t, dir, c)
	if r := runIn(t, dir, "", c.args...); r.code != 0 {
		t.Fatalf("without a limit:\n%s", r)
	}
	return dir, before, h29State(t, dir, c)
}

// h29CheckRun checks what one run under a fault left in dir.
func h29CheckRun(t *testing.T, dir string, c h29Case, fault string, r result, before, after h29Outcome) {
	t.Helper()
	if strings.Contains(r.stdout+r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("%s: stack trace:\n%s", fault, r)
	}
	got := h29State(t, dir, c)
	if got.db != "" {
		if v := runIn(t, dir, "", "verify", c.db); v.code != 0 {
			t.Fatalf("%s: verify after the run:\n%s\n%s", fault, v, r)
		}
	}
	// A store and its log may be there; a second file only when the
	// command succeeded.
	allowed := []string{"existing.db", "union.db", "dump.jsonl", c.db, c.db + "-wal"}
	if r.code == 0 {
		allowed = append(allowed, c.dst)
	}
	for _, n := range dirNames(t, dir) {
		if !slices.Contains(allowed, n) {
			t.Fatalf("%s: exit %d left %s in the directory (all: %v):\n%s", fault, r.code, n, dirNames(t, dir), r)
		}
	}
	if r.code == 0 {
		if got.db != after.db || got.dst != after.dst {
			t.Fatalf("%s: exit 0, but the files do not hold the command's whole change:\n%s", fault, r)
		}
		for _, line := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
			if line != "" && !strings.HasPrefix(line, "warning: ") {
				t.Fatalf("%s: exit 0 with stderr other than a warning:\n%s", fault, r)
			}
			if strings.Contains(line, "ckpt: ") {
				t.Fatalf("%s: the warning repeats the library's prefixes:\n%s", fault, r)
			}
		}
		if c.json && !json.Valid([]byte(r.stdout)) {
			t.Fatalf("%s: --json, and stdout is not JSON:\n%s", fault, r)
		}
	} else {
		if !c.partial && got.db != before.db {
			t.Fatalf("%s: exit %d, and %s changed (%d lines of export, %d before, %d after a whole run):\n%s",
				fault, r.code, c.db, strings.Count(got.db, "\n"), strings.Count(before.db, "\n"), strings.Count(after.db, "\n"), r)
		}
		if got.dst != before.dst {
			t.Fatalf("%s: exit %d, and %s was written:\n%s", fault, r.code, c.dst, r)
		}
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "ckpt: ") {
			t.Fatalf("%s: a failure must print one line:\n%s", fault, r)
		}
		if !slices.ContainsFunc(c.left, func(l string) bool { return strings.Contains(r.stderr, l) }) {
			t.Fatalf("%s: the failure does not say what stands (want %q):\n%s", fault, c.left, r)
		}
	}
}

// h29Paused is a command started with pauseEnv: first is its first line
// on stderr ("ckpt: working" once it is paused in the middle of its work,
// else its error), wait ends it and returns how.
type h29Paused struct {
	cmd   *exec.Cmd
	first string
	rest  chan string
}

func h29StartPaused(t *testing.T, dir string, args ...string) *h29Paused {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), pauseEnv+"=1")
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	br := bufio.NewReader(errPipe)
	first, _ := br.ReadString('\n')
	p := &h29Paused{cmd: cmd, first: first, rest: make(chan string, 1)}
	go func() {
		b, _ := io.ReadAll(br)
		p.rest <- string(b)
	}()
	return p
}

// resume lets a paused command go on (resumeSignals) and waits for it.
func (p *h29Paused) resume(t *testing.T) result {
	t.Helper()
	if p.first == "ckpt: working\n" {
		if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	}
	werr := p.cmd.Wait()
	r := result{args: p.cmd.Args[1:], stderr: p.first + <-p.rest, code: p.cmd.ProcessState.ExitCode()}
	if werr != nil && r.code <= 0 {
		t.Fatalf("%v\n%s", werr, r)
	}
	return r
}

// TestH29TwoImportsIntoOneNewPath: a second import into the same new path
// starts while the first is in the middle of its work. On main the second
// removed the first one's new.db.import as a killed run's leftover and
// built its own there; the first then linked the second's half-written
// file into place and exited 0 with none of its dump in new.db, and the
// second, whose dump ended up whole in new.db, exited 1. Whatever the
// order, an import that exits 0 must find its own dump in new.db, one
// that fails none of it, and nothing may be left beside.
func TestH29TwoImportsIntoOneNewPath(t *testing.T) {
	t.Parallel()
	fix := spec14Fixture(t)
	dir := t.TempDir()
	if err := copyFileErr(filepath.Join(fix, "dump.jsonl"), filepath.Join(dir, "b.jsonl")); err != nil {
		t.Fatal(err)
	}
	ok(t, dir, "export", filepath.Join(fix, "existing.db"), "-o", "a.jsonl")
	want := map[string][]string{"a.jsonl": spec14Fix.before, "b.jsonl": spec14Fix.alone}

	first := h29StartPaused(t, dir, "import", "new.db", "a.jsonl")
	if first.first != "ckpt: working\n" {
		t.Fatalf("the first import did not pause in its work: %q", first.first)
	}
	second := h29StartPaused(t, dir, "import", "new.db", "b.jsonl")
	// The second is paused too, or refused; the first goes on, then the
	// second.
	ra := first.resume(t)
	rb := second.resume(t)
	t.Logf("first: exit %d %q; second: exit %d %q", ra.code, ra.stderr, rb.code, rb.stderr)
	var got []string
	if _, err := os.Stat(filepath.Join(dir, "new.db")); err == nil {
		var err error
		if got, err = spec14State(filepath.Join(dir, "new.db")); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []result{ra, rb} {
		dump := r.args[len(r.args)-1]
		switch {
		case r.code == 0 && !slices.Equal(got, want[dump]):
			t.Fatalf("the import of %s exited 0, and new.db holds %d checkpoints, not its %d:\n%s", dump, len(got), len(want[dump]), r)
		case r.code != 0 && len(got) > 0 && slices.Equal(got, want[dump]):
			t.Fatalf("the import of %s failed, and new.db holds its dump:\n%s", dump, r)
		case strings.Contains(r.stderr, "goroutine "):
			t.Fatalf("stack trace:\n%s", r)
		}
	}
	if ra.code != 0 {
		t.Fatalf("the first import, alone in new.db.import when the second came, failed:\n%s", ra)
	}
	for _, n := range dirNames(t, dir) {
		if !slices.Contains([]string{"a.jsonl", "b.jsonl", "new.db"}, n) {
			t.Fatalf("left %s in the directory (all: %v)", n, dirNames(t, dir))
		}
	}
}

// TestH29ExportOverAnOldDumpKeepsItOnFailure: export -o over a file that
// holds an earlier dump, failing part way (a file size limit, and a
// dump that cannot be written at all), must leave the earlier dump as it
// was: on main os.Create truncated it first and the failure removed it, so
// a nightly export that found no room lost the previous night's dump too.
func TestH29ExportOverAnOldDumpKeepsItOnFailure(t *testing.T) {
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit")
	}
	fix := spec14Fixture(t)
	dir := h29Dir(t, fix)
	ok(t, dir, "export", "existing.db", "-o", "out.jsonl")
	old, err := os.ReadFile(filepath.Join(dir, "out.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	full := ok(t, dir, "export", "union.db").stdout
	for _, limit := range []int64{int64(len(old)) / 2, int64(len(full)) / 2} {
		cmd := exec.Command(prlimit, fmt.Sprintf("--fsize=%d", limit), binPath, "export", "union.db", "-o", "out.jsonl")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("limit %d: the export of %d bytes succeeded: the test does not test\n%s", limit, len(full), out)
		}
		got, rerr := os.ReadFile(filepath.Join(dir, "out.jsonl"))
		if rerr != nil || !bytes.Equal(got, old) {
			t.Fatalf("limit %d: the failed export left out.jsonl %d bytes (%v), want the earlier dump's %d:\n%s", limit, len(got), rerr, len(old), out)
		}
		if !strings.Contains(string(out), "out.jsonl left as it was") {
			t.Fatalf("limit %d: the failure does not say the earlier dump stands:\n%s", limit, out)
		}
		for _, n := range dirNames(t, dir) {
			if !slices.Contains([]string{"existing.db", "union.db", "dump.jsonl", "out.jsonl"}, n) {
				t.Fatalf("limit %d: left %s (all: %v)", limit, n, dirNames(t, dir))
			}
		}
	}
	// And a whole export replaces it.
	ok(t, dir, "export", "union.db", "-o", "out.jsonl")
	if got, err := os.ReadFile(filepath.Join(dir, "out.jsonl")); err != nil || string(got) != full {
		t.Fatalf("the export that succeeded left %d bytes (%v), want %d", len(got), err, len(full))
	}
}

// TestExportRemovesAKilledExportsLeftover: export -o writes a temporary
// file beside its path; a SIGKILLed export leaves it behind (a hidden
// file as large as the dump). The next export to that path removes it,
// and leaves alone the one of an export to the same path still running,
// which then finishes whole.
func TestExportRemovesAKilledExportsLeftover(t *testing.T) {
	t.Parallel()
	fix := spec14Fixture(t)
	dir := h29Dir(t, fix)
	full := ok(t, dir, "export", "union.db").stdout
	temps := func() []string {
		var out []string
		for _, n := range dirNames(t, dir) {
			if strings.HasPrefix(n, ".out.jsonl.ckpt-export-") {
				out = append(out, n)
			}
		}
		return out
	}
	killed := h29StartPaused(t, dir, "export", "union.db", "-o", "out.jsonl")
	if killed.first != "ckpt: working\n" {
		t.Fatalf("export did not pause in its work: %q", killed.first)
	}
	_ = killed.cmd.Process.Kill()
	_ = killed.cmd.Wait()
	leftover := temps()
	if len(leftover) != 1 {
		t.Fatalf("the killed export left %v, want its one temporary file", leftover)
	}
	running := h29StartPaused(t, dir, "export", "union.db", "-o", "out.jsonl")
	if running.first != "ckpt: working\n" {
		t.Fatalf("export did not pause in its work: %q", running.first)
	}
	ok(t, dir, "export", "existing.db", "-o", "out.jsonl")
	now := temps()
	if slices.Contains(now, leftover[0]) {
		t.Fatalf("the next export left the killed one's %s (all: %v)", leftover[0], dirNames(t, dir))
	}
	if len(now) != 1 {
		t.Fatalf("while an export to out.jsonl runs, %v are there, want its one temporary file", now)
	}
	if r := running.resume(t); r.code != 0 {
		t.Fatalf("the export that ran beside another:\n%s", r)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "out.jsonl")); err != nil || string(got) != full {
		t.Fatalf("out.jsonl after the export that finished last: %d bytes (%v), want %d", len(got), err, len(full))
	}
	if now := temps(); len(now) != 0 {
		t.Fatalf("left %v", now)
	}
}
