package main

import (
	"strings"
	"testing"
)

func logCount(t *testing.T, dir, db string) int {
	t.Helper()
	return len(decodeJSON[[]map[string]any](t, ok(t, dir, "log", db, "demo", "--json")))
}

func TestGCDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	r := ok(t, dir, "gc", db, "--keep-last", "2", "--dry-run")
	if !strings.Contains(r.stdout, "would delete") || !strings.Contains(r.stdout, "6 checkpoints") {
		t.Fatalf("dry run:\n%s", r)
	}
	// Nothing was freed: the figure is what the run would free.
	if strings.Contains(r.stdout, "data freed") || !strings.Contains(r.stdout, "data it would free") {
		t.Fatalf("dry run says data was freed:\n%s", r)
	}
	if n := logCount(t, dir, db); n != 8 {
		t.Fatalf("dry run deleted: %d checkpoints left", n)
	}
}

func TestGCKeepLastThenCompact(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	st := decodeJSON[map[string]any](t, ok(t, dir, "gc", db, "--keep-last", "2", "--json"))
	if st["checkpoints"] != float64(6) || st["dry_run"] != false {
		t.Fatalf("gc: %v", st)
	}
	if n := logCount(t, dir, db); n != 2 {
		t.Fatalf("%d checkpoints left, want 2", n)
	}
	ok(t, dir, "verify", db)
	// The newest checkpoint still shows its whole state.
	show := ok(t, dir, "show", db, "demo").stdout
	if !strings.Contains(show, "messages") {
		t.Fatalf("show after gc:\n%s", show)
	}
	c := decodeJSON[map[string]any](t, ok(t, dir, "compact", db, "--json"))
	if c["file_bytes_after"].(float64) > c["file_bytes_before"].(float64) {
		t.Fatalf("compact grew the file: %v", c)
	}
	text := ok(t, dir, "compact", db).stdout
	if !strings.Contains(text, "compacted") || !strings.Contains(text, "->") {
		t.Fatalf("compact summary:\n%s", text)
	}
	ok(t, dir, "verify", db)
	if n := logCount(t, dir, db); n != 2 {
		t.Fatalf("%d checkpoints after compact, want 2", n)
	}
}

func TestGCThreadTTLRemovesIdleThreads(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	r := ok(t, dir, "gc", db, "--thread-ttl", "1ns")
	if !strings.Contains(r.stdout, "deleted") || !strings.Contains(r.stdout, "1 thread,") {
		t.Fatalf("gc --thread-ttl:\n%s", r)
	}
	if out := ok(t, dir, "threads", db, "--json").stdout; strings.Contains(out, `"demo"`) {
		t.Fatalf("idle thread still listed:\n%s", out)
	}
}

func TestGCAndCompactBadInput(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	failsWith(t, runIn(t, dir, "", "gc", db), 2, "give at least one of")
	failsWith(t, runIn(t, dir, "", "gc", db, "--max-age", "soon"), 2, "invalid argument")
	failsWith(t, runIn(t, dir, "", "gc", db, "--keep-last", "-1"), 2, "must be 1 or more")
	failsWith(t, runIn(t, dir, "", "gc", "missing.db", "--keep-last", "1"), 1, "no such file")
	failsWith(t, runIn(t, dir, "", "compact", "missing.db"), 1, "no such file")
	failsWith(t, runIn(t, dir, "", "compact"), 2, "usage")
	if n := logCount(t, dir, db); n != 8 {
		t.Fatalf("bad input changed the store: %d checkpoints", n)
	}
}
