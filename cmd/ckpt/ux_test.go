package main

// A newcomer's walk through the command: each test here is a rough edge
// found by following the README, kept from coming back.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmptyThreadIsUsage: an empty thread id on the command line is a
// usage mistake (exit 2) found before the file is opened, never "every
// thread" (ListOptions' zero ThreadID) and never a new demo.db.
func TestEmptyThreadIsUsage(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	long := strings.Repeat("x", 1025)
	cases := [][]string{
		{"log", db, ""},
		{"show", db, ""},
		{"diff", db, "", ids[1], ids[2]},
		{"export", db, "demo", ""},
		{"rm", db, "", "--yes"},
		{"cp", db, "demo", ""},
		{"cp", db, "", "x"},
		{"log", db, long},
	}
	for _, args := range cases {
		r := runIn(t, dir, "", args...)
		want := "thread id is empty"
		if slicesContains(args, long) {
			want = "thread id is 1025 bytes, the limit is 1024"
		}
		failsWith(t, r, 2, want)
		if r.stdout != "" {
			t.Fatalf("a refused command printed on stdout:\n%s", r)
		}
	}
	failsWith(t, runIn(t, dir, "", "cp", db, "demo", "demo"), 2, "SRC and DST are the same thread")

	// The demo checks --thread before it creates its file.
	empty := t.TempDir()
	failsWith(t, runIn(t, empty, "", "demo", "--thread", ""), 2, `--thread "": thread id is empty`)
	if _, err := os.Stat(filepath.Join(empty, "demo.db")); !os.IsNotExist(err) {
		t.Fatalf("demo with a bad --thread created demo.db: %v", err)
	}
}

func slicesContains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestArgCountSaysWhat: a wrong number of arguments says how many the
// command takes and which it got, not only the usage line (an extra
// word, such as a thread after "gc FILE", is then plain to see).
func TestArgCountSaysWhat(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"gc", db, "demo", "--keep-last", "1"}, `gc takes 1 argument, got 2 ("` + db + `" "demo"); usage: ckpt gc FILE`},
		{[]string{"log", db}, `log takes 2 arguments, got 1 ("` + db + `"); usage: ckpt log FILE THREAD [flags]`},
		{[]string{"show", db}, `show takes 2 or 3 arguments, got 1`},
		{[]string{"threads"}, `threads takes 1 argument, got none; usage: ckpt threads FILE [flags]`},
		{[]string{"rm", db}, `rm takes at least 2 arguments, got 1`},
		{[]string{"demo", "extra"}, `demo takes no arguments, got 1 ("extra"); usage: ckpt demo [flags]`},
	} {
		failsWith(t, runIn(t, dir, "", c.args...), 2, c.want)
	}
}

// TestHelpTextWrapped: every command's description in --help is wrapped
// for an 80-column terminal (recover's ran on in one 129-character line,
// and log's and stats' one-line summaries were wider than the screen).
func TestHelpTextWrapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	names := []string{""}
	for _, c := range newApp(nil, nil, nil).rootCommand().Commands() {
		names = append(names, c.Name())
	}
	for _, name := range names {
		args := []string{"--help"}
		if name != "" {
			args = []string{name, "--help"}
		}
		r := runIn(t, dir, "", args...)
		if r.code != 0 {
			t.Fatalf("want success:\n%s", r)
		}
		text, _, _ := strings.Cut(r.stdout, "\nUsage:")
		for _, l := range strings.Split(text, "\n") {
			if n := len([]rune(l)); n > 80 {
				t.Errorf("ckpt %s --help: a line of %d characters: %q", name, n, l)
			}
		}
	}
}
