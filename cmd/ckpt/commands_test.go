package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// stepIDs returns the checkpoint id of each step of the demo thread.
func stepIDs(t *testing.T, dir, db string) map[int]string {
	t.Helper()
	ids := map[int]string{}
	for _, e := range decodeJSON[[]logEntry](t, ok(t, dir, "log", db, "demo", "--json")) {
		ids[int(e.Step.(float64))] = e.ID
	}
	return ids
}

// crash runs a command that must end killed by SIGKILL.
func crash(t *testing.T, dir string, args ...string) result {
	t.Helper()
	r := runIn(t, dir, "", args...)
	if !r.killed {
		t.Fatalf("want the process killed:\n%s", r)
	}
	return r
}

func TestThreads(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	crash(t, dir, "demo", "--thread", "second", "--crash-after", "3") // an unfinished second thread
	rows := decodeJSON[[]map[string]any](t, ok(t, dir, "threads", db, "--json"))
	if len(rows) != 2 || rows[0]["thread"] != "demo" || rows[0]["checkpoints"] != float64(8) || rows[0]["pending_writes"] != float64(9) ||
		rows[1]["thread"] != "second" || rows[1]["checkpoints"] != float64(3) {
		t.Fatalf("threads --json = %v", rows)
	}
	text := ok(t, dir, "threads", db).stdout
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "THREAD") || !strings.HasPrefix(lines[1], "demo ") || !strings.Contains(lines[1], rows[0]["newest_id"].(string)) {
		t.Fatalf("threads =\n%s", text)
	}
}

func TestLog(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	entries := decodeJSON[[]logEntry](t, ok(t, dir, "log", db, "demo", "--json"))
	if len(entries) != 8 {
		t.Fatalf("log has %d entries, want 8", len(entries))
	}
	for i, e := range entries { // newest first
		if e.Step != float64(8-i) {
			t.Fatalf("entry %d is step %v, want %d", i, e.Step, 8-i)
		}
	}
	if e := entries[5]; e.Node != "research" || strings.Join(e.Changed, ",") != "findings" || e.Parent != entries[6].ID {
		t.Fatalf("step 3 entry = %+v", e)
	}
	if e := entries[7]; strings.Join(e.Changed, ",") != "findings,messages,question" || e.Source != "input" {
		t.Fatalf("step 1 entry = %+v", e)
	}
	text := ok(t, dir, "log", db, "demo").stdout
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 9 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], entries[0].ID) ||
		!strings.Contains(lines[6], "research") || !strings.Contains(lines[6], "findings") {
		t.Fatalf("log =\n%s", text)
	}
	for _, c := range []struct {
		args  []string
		steps []float64
	}{
		{[]string{"--limit", "2"}, []float64{8, 7}},
		{[]string{"--filter", "node=writer"}, []float64{6, 4}},
		{[]string{"--filter", "step=3"}, []float64{3}},
		{[]string{"--filter", "node=critic", "--filter", `reason=the critic approved the draft`}, []float64{7}},
		{[]string{"--ns", ""}, []float64{8, 7, 6, 5, 4, 3, 2, 1}},
	} {
		// (--ns of a namespace the thread lacks is an error:
		// TestLogOfANamespaceTheThreadLacksNamesThoseItHas.)
		got := decodeJSON[[]logEntry](t, ok(t, dir, append([]string{"log", db, "demo", "--json"}, c.args...)...))
		var steps []float64
		for _, e := range got {
			steps = append(steps, e.Step.(float64))
		}
		if len(steps) != len(c.steps) || len(steps) > 0 && !equalFloats(steps, c.steps) {
			t.Fatalf("log %v: steps %v, want %v", c.args, steps, c.steps)
		}
	}
}

func equalFloats(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

func TestShow(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	newest := decodeJSON[checkpointDoc](t, ok(t, dir, "show", db, "demo", "--json"))
	if newest.ID != ids[8] || newest.Parent == nil || *newest.Parent != ids[7] || newest.Metadata["node"] != "responder" ||
		newest.State["revisions"] != float64(1) || newest.Versions["messages"] != "0008" {
		t.Fatalf("show newest = %+v", newest)
	}
	// Step 2's checkpoint holds the parallel tasks' pending writes.
	two := decodeJSON[checkpointDoc](t, ok(t, dir, "show", db, "demo", ids[2]))
	if len(two.PendingWrites) != 2 || two.PendingWrites[0].TaskID != "research:bbolt" || two.PendingWrites[1].TaskID != "research:sqlite" ||
		two.PendingWrites[0].Channel != "findings" || two.PendingWrites[0].Value.(map[string]any)["source"] != "bbolt" {
		t.Fatalf("show step 2 pending writes = %+v", two.PendingWrites)
	}
	// Enough of the start of an id names it; too little is refused.
	byPrefix := decodeJSON[checkpointDoc](t, ok(t, dir, "show", db, "demo", strings.ToLower(ids[2][:len(ids[2])-1]), "--json"))
	if byPrefix.ID != ids[2] {
		t.Fatalf("show by prefix gave %s, want %s", byPrefix.ID, ids[2])
	}
	failsWith(t, runIn(t, dir, "", "show", db, "demo", "0"), exitUsage, `"0" is the start of 8 checkpoint ids`)
	findings := decodeJSON[[]map[string]any](t, ok(t, dir, "show", db, "demo", "--channel", "findings"))
	if len(findings) != 2 || findings[1]["source"] != "SQLite" {
		t.Fatalf("show --channel findings = %v", findings)
	}
	r := runIn(t, dir, "", "show", db, "demo", "--channel", "nope")
	failsWith(t, r, 1, `has no channel "nope" (it has: draft, findings, messages, plan, question, review, revisions)`)
}

func TestDiff(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	d := decodeJSON[checkpointDiff](t, ok(t, dir, "diff", db, "demo", ids[2], ids[3], "--json"))
	if len(d.Changed) != 1 || d.Changed[0].Channel != "findings" || len(d.Changed[0].Appended) != 2 ||
		d.MetadataChanged["node"].To != "research" || len(d.Added)+len(d.Removed) != 0 ||
		strings.Join(d.Unchanged, ",") != "messages,plan,question" {
		t.Fatalf("diff 2..3 = %+v", d)
	}
	d = decodeJSON[checkpointDiff](t, ok(t, dir, "diff", db, "demo", ids[4], ids[6], "--json"))
	if d.Added["revisions"] != float64(1) || d.Added["review"] == nil || len(d.Changed) != 1 || d.Changed[0].Channel != "draft" ||
		d.Changed[0].From == nil || d.Changed[0].To == nil || len(d.MetadataChanged) != 1 {
		t.Fatalf("diff 4..6 = %+v", d)
	}
	plain := ok(t, dir, "diff", db, "demo", ids[2], ids[3]).stdout
	for _, want := range []string{"~ findings: 2 items appended (version 0001 -> 0003)", `    + {"note":`, `~ node: "planner" -> "research"`, "unchanged: messages, plan, question"} {
		if !strings.Contains(plain, want) {
			t.Fatalf("diff output lacks %q:\n%s", want, plain)
		}
	}
	if strings.Contains(plain, "\x1b[") {
		t.Fatalf("colour codes when stdout is not a terminal:\n%q", plain)
	}
	if coloured := ok(t, dir, "diff", db, "demo", ids[2], ids[3], "--color", "always").stdout; !strings.Contains(coloured, "\x1b[32m") {
		t.Fatalf("--color always printed no colour:\n%q", coloured)
	}
	same := ok(t, dir, "diff", db, "demo", ids[5], ids[5]).stdout
	if !strings.Contains(same, "(no channel changed)") || !strings.Contains(same, "(no difference)") {
		t.Fatalf("diff of a checkpoint with itself:\n%s", same)
	}
}

func TestStats(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	st := decodeJSON[map[string]any](t, ok(t, dir, "stats", db, "--json"))
	if st["threads"] != float64(1) || st["checkpoints"] != float64(8) || st["pending_writes"] != float64(9) ||
		st["shared_refs"].(float64) < 20 || st["shared_bytes"].(float64) <= 0 || len(st["buckets"].([]any)) != 8 ||
		st["list_versions"].(float64) < 1 || st["list_whole_bytes"].(float64) <= 0 {
		t.Fatalf("stats = %v", st)
	}
	// The size on disk (what ls shows) and what bbolt's pages reach, apart.
	if disk := fileSize(db); st["file_size_on_disk"] != float64(disk) || st["file_bytes"].(float64) > float64(disk) {
		t.Fatalf("stats: file_size_on_disk %v, file_bytes %v; the file has %d bytes", st["file_size_on_disk"], st["file_bytes"], disk)
	}
	text := ok(t, dir, "stats", db).stdout
	if want := fmt.Sprintf("%s on disk (%d bytes)", humanBytes(fileSize(db)), fileSize(db)); !strings.Contains(text, want) || !strings.Contains(text, "used by bbolt") {
		t.Fatalf("stats output lacks %q or the bbolt size:\n%s", want, text)
	}
	if !regexp.MustCompile(`(?m)^checkpoints +8$`).MatchString(text) {
		t.Fatalf("stats output lacks the checkpoint count:\n%s", text)
	}
	for _, want := range []string{"saved by sharing", "saved by append-deltas", "threads/*/bl", "threads/*/ls", "WHAT IT HOLDS", "checkpoint records (channel versions, parent)"} {
		if !strings.Contains(text, want) {
			t.Fatalf("stats output lacks %q:\n%s", want, text)
		}
	}
}

func TestVerifyHealthyFile(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	r := ok(t, dir, "verify", db)
	if !strings.Contains(r.stdout, "OK (bbolt page check passed; checked 1 thread, 8 checkpoints, 9 pending writes") {
		t.Fatalf("verify:\n%s", r)
	}
	rep := decodeJSON[map[string]any](t, ok(t, dir, "verify", db, "--json"))
	if rep["ok"] != true || rep["checkpoints"] != float64(8) || len(rep["problems"].([]any)) != 0 {
		t.Fatalf("verify --json = %v", rep)
	}
}

// TestReadCommandsDoNotChangeTheFile runs every read command and checks the
// file's bytes are untouched.
func TestReadCommandsDoNotChangeTheFile(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	ids := stepIDs(t, dir, db)
	before, _ := os.ReadFile(db)
	for _, args := range [][]string{{"threads", db}, {"log", db, "demo"}, {"show", db, "demo"}, {"diff", db, "demo", ids[1], ids[8]},
		{"verify", db}, {"stats", db}, {"export", db}} {
		ok(t, dir, args...)
	}
	if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
		t.Fatal("a read command changed the file")
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	crash(t, dir, "demo", "--thread", "crashed", "--crash-after", "2") // a thread with a pending write and no end
	dump := ok(t, dir, "export", db).stdout
	if !strings.HasPrefix(dump, `{"ckpt_export":1}`+"\n") || !strings.HasSuffix(dump, "\n") {
		t.Fatalf("dump does not start with its header:\n%.200s", dump)
	}
	dumpPath := filepath.Join(dir, "dump.jsonl")
	if err := os.WriteFile(dumpPath, []byte(dump), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, dump, "import", "copy.db")
	if r.code != 0 || !strings.Contains(r.stdout, "imported into copy.db: 2 threads, 10 checkpoints") {
		t.Fatalf("import:\n%s", r)
	}
	if again := ok(t, dir, "export", "copy.db").stdout; again != dump {
		t.Fatal("export of the imported file differs from the original dump")
	}
	ok(t, dir, "verify", "copy.db")
	// From a file argument and -o, one thread.
	ok(t, dir, "export", db, "demo", "-o", "demo-only.jsonl")
	ok(t, dir, "import", "only.db", "demo-only.jsonl")
	rows := decodeJSON[[]map[string]any](t, ok(t, dir, "threads", "only.db", "--json"))
	if len(rows) != 1 || rows[0]["thread"] != "demo" {
		t.Fatalf("threads of only.db = %v", rows)
	}
	// The same dump again: the threads exist, nothing changes.
	before := ok(t, dir, "export", "copy.db").stdout
	failsWith(t, runIn(t, dir, dump, "import", "copy.db"), 1, `thread "crashed" is already in the store`)
	if after := ok(t, dir, "export", "copy.db").stdout; after != before {
		t.Fatal("a failed import changed the file")
	}
	// A truncated dump is refused and leaves no thread behind.
	cut := dump[:strings.LastIndex(strings.TrimSuffix(dump, "\n"), "\n")+1]
	failsWith(t, runIn(t, dir, cut, "import", "cut.db"), 1, "ends without its end record (truncated?)")
	if _, err := os.Stat(filepath.Join(dir, "cut.db")); !os.IsNotExist(err) {
		t.Fatalf("a failed import into a new file left the file behind (%v)", err)
	}
	// Into an existing store: it is left holding what it held. (Of a
	// thread only.db lacks: one it has is refused before the dump is
	// read to its end, importLooks.)
	crashed := ok(t, dir, "export", db, "crashed").stdout
	crashed = crashed[:strings.LastIndex(strings.TrimSuffix(crashed, "\n"), "\n")+1]
	failsWith(t, runIn(t, dir, crashed, "import", "only.db"), 1, "truncated?")
	failsWith(t, runIn(t, dir, cut, "import", "only.db"), 1, `thread "demo" is already in the store`)
	if rows := decodeJSON[[]map[string]any](t, ok(t, dir, "threads", "only.db", "--json")); len(rows) != 1 {
		t.Fatalf("threads of only.db after a failed import: %v", rows)
	}
}
