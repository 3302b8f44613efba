package main

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := ok(t, dir, "version").stdout
	for _, want := range []string{"ckpt ", fmt.Sprintf("file format %d\n", ckpt.FormatVersion), runtime.Version()} {
		if !strings.Contains(out, want) {
			t.Fatalf("version does not say %q:\n%s", want, out)
		}
	}
	v := decodeJSON[versionInfo](t, ok(t, dir, "version", "--json"))
	if v.Format != ckpt.FormatVersion || v.Go != runtime.Version() || v.Version == "" {
		t.Fatalf("version --json: %+v", v)
	}
	failsWith(t, runIn(t, dir, "", "version", "extra"), exitUsage, "usage: ckpt version")
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if out := ok(t, dir, "completion", shell).stdout; !strings.Contains(out, "ckpt") {
			t.Fatalf("completion %s:\n%s", shell, out)
		}
	}
}

func TestRm(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ok(t, dir, "cp", db, "demo", "other")
	// Not a terminal and no --yes: refuse, delete nothing.
	failsWith(t, runIn(t, dir, "y\n", "rm", db, "demo"), exitUsage, "pass --yes")
	// An unknown thread fails before anything is deleted.
	failsWith(t, runIn(t, dir, "", "rm", db, "demo", "nope", "--yes"), exitError, `has no thread "nope"`)
	if n := logCount(t, dir, db); n != 8 {
		t.Fatalf("a refused rm deleted: %d checkpoints left", n)
	}
	failsWith(t, runIn(t, dir, "", "rm", db), exitUsage, "usage: ckpt rm FILE THREAD...")
	r := ok(t, dir, "rm", db, "demo", "--yes")
	if r.stdout != "deleted thread demo\n" {
		t.Fatalf("rm:\n%s", r)
	}
	threads := decodeJSON[[]map[string]any](t, ok(t, dir, "threads", db, "--json"))
	if len(threads) != 1 || threads[0]["thread"] != "other" {
		t.Fatalf("threads after rm demo: %v", threads)
	}
	ok(t, dir, "verify", db)
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"y\n", true}, {"Yes\n", true}, {" YES \n", true}, {"y", true},
		{"\n", false}, {"", false}, {"n\n", false}, {"yeah\n", false}, {"no\ny\n", false},
	} {
		var w strings.Builder
		if got := confirm(strings.NewReader(c.in), &w, "delete?"); got != c.want {
			t.Errorf("answer %q: confirm = %v, want %v", c.in, got, c.want)
		}
		if w.String() != "delete? [y/N] " {
			t.Errorf("prompt %q", w.String())
		}
	}
}

func TestCp(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	if r := ok(t, dir, "cp", db, "demo", "copy"); r.stdout != "copied thread demo to copy\n" {
		t.Fatalf("cp:\n%s", r)
	}
	a := ok(t, dir, "log", db, "demo", "--json").stdout
	b := ok(t, dir, "log", db, "copy", "--json").stdout
	if a != b {
		t.Fatalf("the copy's history differs:\n%s\n%s", a, b)
	}
	failsWith(t, runIn(t, dir, "", "cp", db, "demo", "copy"), exitError, `already has a thread "copy" (--replace overwrites it)`)
	ok(t, dir, "cp", db, "demo", "copy", "--replace")
	failsWith(t, runIn(t, dir, "", "cp", db, "nope", "x"), exitError, `has no thread "nope"`)
	failsWith(t, runIn(t, dir, "", "cp", db, "demo"), exitUsage, "usage: ckpt cp FILE SRC DST")
	ok(t, dir, "verify", db)
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"90m", 90 * time.Minute}, {"36h", 36 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"2w", 14 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour}, {"1w2d", 9 * 24 * time.Hour}, {"1.5d", 36 * time.Hour}, {"-1d", -24 * time.Hour},
		{"500ms", 500 * time.Millisecond},
	} {
		got, err := parseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "d", "30", "30x", "soon", "1dd", "w2"} {
		if d, err := parseDuration(bad); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", bad, d)
		}
	}
}

func TestDurationFlags(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	for _, args := range [][]string{
		{"gc", db, "--max-age", "30d", "--dry-run"},
		{"gc", db, "--thread-ttl", "2w", "--keep-last", "3", "--dry-run"},
		{"gc", db, "--max-age", "1d12h", "--dry-run"},
		{"threads", db, "--lock-timeout", "1d"},
	} {
		ok(t, dir, args...)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"threads", db, "--lock-timeout", "-1s"}, `invalid argument "-1s" for "--lock-timeout" flag: must be more than 0`},
		{[]string{"threads", db, "--lock-timeout", "0"}, "must be more than 0"},
		{[]string{"gc", db, "--max-age", "0"}, `invalid argument "0" for "--max-age" flag: must be more than 0`},
		{[]string{"gc", db, "--thread-ttl", "-2w"}, "must be more than 0"},
		{[]string{"gc", db, "--keep-last", "0"}, "--keep-last must be 1 or more"},
		{[]string{"gc", db, "--max-age", "30days"}, `"30days" is not a duration`},
	} {
		failsWith(t, runIn(t, dir, "", c.args...), exitUsage, c.want)
	}
}
