//go:build linux

package main

// A write command whose store fails (fail-stop: an fsync or a commit
// reported an I/O error) under strace's fault injection: what the user
// sees, and what the file then holds.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h183Strace returns strace's path, or skips the test where it cannot
// trace; with CKPT_REQUIRE_STRACE=1 (CI sets it) it fails instead, so
// that these tests never pass there without having run.
func h183Strace(t *testing.T) string {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("CKPT_REQUIRE_STRACE") == "1" {
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

// h183Until runs a faulted command (run, on a fresh fixture each time)
// until it exits with code: strace counts a syscall's calls per tracee,
// a thread of the process, and which of Go's threads makes an fdatasync
// is the scheduler's, so under load the when-th call of one thread may
// come after the one meant to fail, and the command succeeds. A command
// that never exits with code in 8 tries fails the test.
func h183Until(t *testing.T, code int, run func() result) result {
	t.Helper()
	return h183UntilLanded(t, fmt.Sprintf("exit %d", code), func(r result) bool { return r.code == code }, run)
}

// h183UntilLanded is h183Until for a command whose exit does not show
// the fault: it runs until landed says the fault is seen in the result
// (want says what that is), at most 8 times.
func h183UntilLanded(t *testing.T, want string, landed func(result) bool, run func() result) result {
	t.Helper()
	var r result
	for try := range 8 {
		if r = run(); landed(r) {
			return r
		}
		t.Logf("try %d: not %s (the fault landed elsewhere, or nowhere): again, on a fresh fixture", try+1, want)
	}
	t.Fatalf("8 tries, want %s (the fault on the fdatasync meant to fail):\n%s", want, r)
	return r
}

// h183RunFaulted runs the command in dir under strace, every fdatasync of
// path from the when-th on failing with EIO.
func h183RunFaulted(t *testing.T, strace, dir, path, when string, args ...string) result {
	t.Helper()
	cmd := exec.Command(strace, append([]string{"-f", "-qq", "-o", "/dev/null", "-P", path,
		"-e", "trace=fdatasync", "-e", "inject=fdatasync:error=EIO:when=" + when, binPath}, args...)...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// A command whose writes were all acknowledged (ckpt cp: the copy is in
// the log, fsync'd) and whose store then failed applying them (the file's
// fdatasync: EIO) printed its success and exited 1 with the library's
// words: "store failed after an I/O error; reopen it: apply write-ahead
// log to the store: input/output error", advice for a program (the
// process is ending) that says nothing of the copy. The command exits 1
// (the disk reported an error: a script must know), with one line that
// names the file and the failure once, says the writes were acknowledged
// and are kept (the next open applies the log), and names 'ckpt verify'.
// The copy is then there, and verify finds the file whole.
func TestH183AcknowledgedWritesThenFailedStore(t *testing.T) {
	t.Parallel()
	strace := h183Strace(t)
	var dir string
	// Open's commit is the file's fdatasyncs 1 and 2 (its pages, its
	// meta page); the first apply of the copy's group is the third.
	r := h183Until(t, 1, func() result {
		var db string
		dir, db = demoFixture(t)
		return h183RunFaulted(t, strace, dir, db, "3+", "cp", "demo.db", "demo", "demo2")
	})
	failsWith(t, r, 1, "input/output error")
	if r.stdout != "copied thread demo to demo2\n" {
		t.Errorf("stdout: want the copy's line:\n%s", r)
	}
	for _, want := range []string{"demo.db: the store failed after the command succeeded", "what it wrote was acknowledged and is kept",
		"'ckpt verify demo.db'"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr: want %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stderr, "reopen it") || strings.Count(r.stderr, "input/output error") != 1 {
		t.Errorf("stderr: want the failure once, without the library's advice to reopen:\n%s", r)
	}
	if th := runIn(t, dir, "", "threads", "demo.db"); th.code != 0 || !strings.Contains(th.stdout, "demo2") {
		t.Errorf("threads after the failed store, want the acknowledged copy demo2:\n%s", th)
	}
	if v := runIn(t, dir, "", "verify", "demo.db"); v.code != 0 {
		t.Errorf("verify after the failed store:\n%s", v)
	}
}

// An import into an existing store whose log's fsync fails after its
// first batch: the store fails, the import's undo fails with it (the
// failed store refuses every write), and the line said the failure twice,
// the second time as the undo's own ("import: undo (the next read-write
// Open finishes it): thread "c01": store failed ...; reopen it"), with
// the library's advice to reopen, and called the file "left as it was"
// while the batches in it stay hidden until a write removes them. The
// line must name the failure once, say the undo could not run because
// the store failed, that what of the import reached the file is hidden
// and the next command that writes to the file removes it, and name
// 'ckpt verify'. No thread of the dump is then read; the next write removes
// them, and verify finds the file whole.
func TestH183ImportIntoAFailedStore(t *testing.T) {
	t.Parallel()
	strace := h183Strace(t)
	var dir string
	// The fault must land after a batch is in, and where it lands is not
	// the call number alone: strace counts each thread's calls apart, and
	// under load the log's second fdatasync can still be the first
	// batch's (3 of 20 runs under two CPU hogs failed in the first batch,
	// no line in stderr; the log's syncs take its groups as they come). A
	// run whose fault landed in the first batch, or nowhere, runs again.
	r := h183UntilLanded(t, "exit 1 after a batch (before line 514 or later)", func(r result) bool {
		return r.code == 1 && h183StoppedBefore(r) >= 514
	}, func() result {
		var db string
		dir, db = demoFixture(t)
		src := filepath.Join(dir, "src.db")
		s, err := ckpt.Open(src, ckpt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		// 30 threads of 20 checkpoints: past one import batch (512 records).
		for th := range 30 {
			for i := range 20 {
				if _, err := s.Save(context.Background(), fmt.Sprintf("c%02d", th), map[string]any{"i": i}, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if r := runIn(t, dir, "", "export", "src.db", "-o", "dump.jsonl"); r.code != 0 {
			t.Fatal(r)
		}
		// The log's first fdatasync is its first batch's (lines 2-513); the
		// second, its second batch's (or a later one's), fails.
		return h183RunFaulted(t, strace, dir, db+"-wal", "2+", "import", "demo.db", "dump.jsonl")
	})
	failsWith(t, r, 1, "input/output error")
	// A batch or two were in (the log's syncs may take more than one
	// group at a time).
	if h183StoppedBefore(r) < 514 {
		t.Errorf("stderr: want the import stopped after a batch:\n%s", r)
	}
	for _, want := range []string{"could not undo", "the store had failed", "hidden", "the next command that writes to demo.db removes",
		"'ckpt verify demo.db'"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr: want %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stderr, "reopen it") || strings.Contains(r.stderr, "undo (") || strings.Contains(r.stderr, "left as it was") {
		t.Errorf("stderr: want the failure once (not again as the undo's), without the library's advice to reopen, "+
			"and not the file called left as it was:\n%s", r)
	}
	if th := runIn(t, dir, "", "threads", "demo.db"); th.code != 0 || strings.Contains(th.stdout, "c00") {
		t.Errorf("threads after the failed import, want none of the dump's:\n%s", th)
	}
	// A write removes them (the import's record in the file).
	if w := runIn(t, dir, "", "cp", "demo.db", "demo", "again"); w.code != 0 {
		t.Fatalf("cp after the failed import:\n%s", w)
	}
	if st := runIn(t, dir, "", "stats", "demo.db", "--json"); st.code != 0 || !strings.Contains(st.stdout, `"threads": 2`) {
		t.Errorf("stats after the next write, want 2 threads (demo, again):\n%s", st)
	}
	if v := runIn(t, dir, "", "verify", "demo.db"); v.code != 0 {
		t.Errorf("verify after the failed import:\n%s", v)
	}
}

// h183StoppedBefore returns the line an import's stderr says it stopped
// before ("(before line N)"), or 0.
func h183StoppedBefore(r result) int {
	line := 0
	if m := regexp.MustCompile(`\(before line ([0-9]+)\)`).FindStringSubmatch(r.stderr); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	return line
}
