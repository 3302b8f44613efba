package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestExitCodes: every usage mistake exits 2 and points to the help of the
// command that was mistyped; every other error exits 1; both print one
// line, with the file's path once and no raw bbolt message.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	small := filepath.Join(dir, "small.db")
	copyFile(t, db, small)
	if err := os.Truncate(small, 5000); err != nil {
		t.Fatal(err)
	}
	missingDir := filepath.Join(dir, "no-such-dir", "y.db")
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown command", []string{"lgo"}, 2, `unknown command "lgo" for "ckpt"; did you mean`},
		{"did you mean", []string{"sho"}, 2, `did you mean show? (see 'ckpt --help')`},
		{"unknown flag", []string{"log", db, "demo", "--bogus"}, 2, "unknown flag: --bogus (see 'ckpt log --help')"},
		{"unknown global flag", []string{"--bogus"}, 2, "unknown flag: --bogus (see 'ckpt --help')"},
		{"too few args", []string{"log", db}, 2, "usage: ckpt log FILE THREAD [flags] (see 'ckpt log --help')"},
		{"too many args", []string{"stats", db, "x"}, 2, "(see 'ckpt stats --help')"},
		{"bad duration", []string{"gc", db, "--max-age", "1x"}, 2, `"1x" is not a duration`},
		{"negative duration", []string{"threads", db, "--lock-timeout", "-1s"}, 2, "must be more than 0 (see 'ckpt threads --help')"},
		{"zero max age", []string{"gc", db, "--max-age", "0"}, 2, "must be more than 0"},
		{"bad number", []string{"log", db, "demo", "--limit", "x"}, 2, `invalid argument "x" for "--limit"`},
		{"ambiguous id prefix", []string{"show", db, "demo", "0"}, 2, "give more of it (see 'ckpt show --help')"},
		{"malformed id", []string{"diff", db, "demo", "0", "not-an-id"}, 2, "(see 'ckpt diff --help')"},
		{"rm without --yes", []string{"rm", db, "demo"}, 2, "pass --yes"},
		{"unknown thread", []string{"log", db, "nope"}, 1, `has no thread "nope"`},
		{"missing file", []string{"threads", "missing.db"}, 1, "missing.db: no such file"},
		{"missing directory", []string{"import", missingDir}, 1, missingDir + ": no directory " + filepath.Dir(missingDir)},
		{"too small for bbolt", []string{"threads", small}, 1, "small.db is not a ckpt store (5000 bytes: too small to be one)"},
		{"too small, for writing", []string{"import", small}, 1, "small.db is not a ckpt store (5000 bytes: too small to be one)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runIn(t, dir, "", c.args...)
			failsWith(t, r, c.code, c.want)
			// A path appears once, and bbolt's own wording never.
			for _, p := range []string{db, small, missingDir} {
				if strings.Count(r.stderr, p) > 1 {
					t.Fatalf("%s named twice:\n%s", p, r)
				}
			}
			if strings.Contains(r.stderr, "file size too small") || strings.Contains(r.stderr, "open "+missingDir) {
				t.Fatalf("raw library error:\n%s", r)
			}
		})
	}
}

// TestImportNamesTheLastLine: a dump cut short fails naming its last line.
func TestImportNamesTheLastLine(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	lines := strings.SplitAfter(ok(t, dir, "export", db).stdout, "\n")
	short := strings.Join(lines[:20], "")
	failsWith(t, runIn(t, dir, short, "import", filepath.Join(dir, "new.db")), 1, "line 20: the dump ends without its end record (truncated?)")
	if _, err := os.Stat(filepath.Join(dir, "new.db")); !os.IsNotExist(err) {
		t.Fatalf("a failed import left new.db behind: %v", err)
	}
}

// TestTimesOneFormat: every command prints a checkpoint's time the same
// way, RFC 3339 with the zone: local by default, UTC with --utc.
func TestTimesOneFormat(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	run := func(args ...string) string {
		cmd := exec.Command(binPath, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TZ=Asia/Kolkata") // +05:30: no machine's default
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("ckpt %v: %v", args, err)
		}
		return out.String()
	}
	stamp := regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d)`)
	for _, c := range []struct {
		utc  bool
		zone string
	}{{false, "+05:30"}, {true, "Z"}} {
		var found []string
		for _, args := range [][]string{
			{"threads", db}, {"threads", db, "--json"}, {"log", db, "demo", "--limit", "1"},
			{"log", db, "demo", "--limit", "1", "--json"}, {"show", db, "demo"},
		} {
			if c.utc {
				args = append(args, "--utc")
			}
			out := run(args...)
			ts := stamp.FindAllStringSubmatch(out, -1)
			if len(ts) == 0 {
				t.Fatalf("ckpt %v prints no time:\n%s", args, out)
			}
			for _, m := range ts {
				if m[1] != c.zone {
					t.Fatalf("ckpt %v: time %s, want zone %s", args, m[0], c.zone)
				}
				found = append(found, m[0][:len("2006-01-02T15:04:05.000")])
			}
		}
		// The newest checkpoint: the same instant, to the millisecond, everywhere.
		for _, f := range found {
			if f != found[0] {
				t.Fatalf("times differ between commands: %v", found)
			}
		}
	}
}
