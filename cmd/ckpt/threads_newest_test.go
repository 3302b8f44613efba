package main

import (
	"strings"
	"testing"
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
