package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// ckpt threads lists every thread, each summarised over its whole history,
// in id order: on a store of 100,000 threads it printed nothing for 9 s
// (the table is aligned once every row is read). --newest N lists the N
// threads with the newest checkpoints, newest first, and reads only
// those; --prefix keeps the threads whose id starts with it.
func TestThreadsNewestAndPrefix(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	crash(t, dir, "demo", "--thread", "second", "--crash-after", "3") // newer than demo
	threads := func(args ...string) []string {
		t.Helper()
		var ids []string
		for _, row := range decodeJSON[[]map[string]any](t, ok(t, dir, append([]string{"threads", db, "--json"}, args...)...)) {
			ids = append(ids, row["thread"].(string))
		}
		return ids
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "demo second"},
		{[]string{"--newest", "1"}, "second"},
		{[]string{"--newest", "5"}, "second demo"},
		{[]string{"--prefix", "de"}, "demo"},
		{[]string{"--prefix", "second", "--newest", "1"}, "second"},
		{[]string{"--prefix", "zz"}, ""},
	} {
		if got := strings.Join(threads(c.args...), " "); got != c.want {
			t.Errorf("threads %v = %q, want %q", c.args, got, c.want)
		}
	}
	text := ok(t, dir, "threads", db, "--newest", "1").stdout
	if lines := strings.Split(strings.TrimSpace(text), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "second ") {
		t.Errorf("threads --newest 1 =\n%s", text)
	}
	if text := ok(t, dir, "threads", db, "--prefix", "zz").stdout; !strings.Contains(text, `no threads whose id starts with "zz"`) {
		t.Errorf("threads --prefix zz = %q", text)
	}
	failsWith(t, runIn(t, dir, "", "threads", db, "--newest", "-1"), exitUsage, "--newest")
}

// A damaged record in one thread: --newest lists the others, then fails
// naming the damaged thread (one line, a non-zero exit).
func TestThreadsNewestBesideADamagedThread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "d.db")
	s, err := ckpt.Open(db, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const marker = "MARKER-OF-THE-DAMAGED-RECORD"
	for _, thread := range []string{"a", "b", "c"} {
		meta := ckpt.Metadata{"node": "n"}
		if thread == "b" {
			meta["note"] = marker
		}
		for _, m := range []ckpt.Metadata{meta, {"node": "m"}} {
			if _, err := s.Save(ctx, thread, map[string]any{"x": 1}, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(file, []byte(marker)) != 1 {
		t.Fatalf("the marker is in the file %d times, want 1", bytes.Count(file, []byte(marker)))
	}
	if err := os.WriteFile(db, bytes.Replace(file, []byte(marker), []byte(strings.ToLower(marker)), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "threads", db, "--newest", "3")
	// b's row is marked damaged in its place, as plain threads marks it.
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[1], "c ") ||
		!regexp.MustCompile(`^b\s+damaged\b`).MatchString(lines[2]) || !strings.HasPrefix(lines[3], "a ") {
		t.Fatalf("threads --newest 3 beside a damaged thread: want c and a listed, b marked damaged\n%s", r)
	}
	if r.code == 0 || !strings.Contains(r.stderr, `thread "b"`) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("threads --newest 3 beside a damaged thread: want one line naming thread b and a failure\n%s", r)
	}
	// --json too: the others as JSON, b's row with its damage, and the error.
	r = runIn(t, dir, "", "threads", db, "--newest", "3", "--json")
	if r.code == 0 || !strings.Contains(r.stderr, `thread "b"`) || !strings.Contains(r.stdout, `"thread": "c"`) ||
		!regexp.MustCompile(`"thread": "b",[^}]*"damaged": "[^"]`).MatchString(r.stdout) {
		t.Fatalf("threads --newest 3 --json beside a damaged thread: want c and a listed, b marked damaged and named in the error\n%s", r)
	}
}
