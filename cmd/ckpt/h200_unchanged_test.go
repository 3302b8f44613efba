package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestH200NothingToDoLeavesFileAsItWas: a command that changes nothing
// must leave the store's file byte-identical, its mtime too, and no log
// beside it (an operator diffs backups, and a file whose bytes change on
// every nightly `ckpt gc` is copied whole each night). ckpt gc with a
// policy that selects nothing printed "deleted 0 threads, 0
// checkpoints" and changed 390 bytes of the file: it opened the store
// for writing, and a read-write Open commits the log's binding and
// Close clears it (two bbolt commits: a new transaction id, the mark's
// pages rewritten). The read commands are swept with it, and ckpt demo
// on a thread it has finished (it says so and stores nothing).
func TestH200NothingToDoLeavesFileAsItWas(t *testing.T) {
	_, fixture := demoFixture(t)
	var ids []string
	for _, m := range regexp.MustCompile(`"id":"([0-9A-Z]{26})"`).FindAllStringSubmatch(runIn(t, filepath.Dir(fixture), "", "log", "demo.db", "demo", "--json").stdout, -1) {
		ids = append(ids, m[1])
	}
	if len(ids) < 2 {
		t.Fatalf("the demo's thread has %d checkpoints, want 2 or more", len(ids))
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, args := range [][]string{
		{"gc", "demo.db", "--keep-last", "1000"},
		{"gc", "demo.db", "--max-age", "1000w", "--thread-ttl", "1000w", "--json"},
		{"gc", "demo.db", "--keep-last", "1", "--dry-run"},
		{"stats", "demo.db"},
		{"verify", "demo.db"},
		{"threads", "demo.db"},
		{"show", "demo.db", "demo"},
		{"log", "demo.db", "demo"},
		{"diff", "demo.db", "demo", ids[1], ids[0]},
		{"export", "demo.db", "-o", "out.jsonl"},
		{"demo"}, // the fixture's thread is finished: demo says so and writes nothing
	} {
		dir, db := demoFixture(t)
		before, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(db, old, old); err != nil {
			t.Fatal(err)
		}
		r := runIn(t, dir, "", args...)
		if r.code != 0 {
			t.Errorf("want exit 0:\n%s", r)
			continue
		}
		after, err := os.ReadFile(db)
		if err != nil {
			t.Fatal(err)
		}
		if n := diffBytes(before, after); n != 0 {
			t.Errorf("ckpt %s changed %d bytes of the file:\n%s", strings.Join(args, " "), n, r)
		}
		if st, err := os.Stat(db); err != nil || !st.ModTime().Equal(old) {
			t.Errorf("ckpt %s: the file's mtime is no longer %v: %v %v", strings.Join(args, " "), old, st.ModTime(), err)
		}
		if _, err := os.Lstat(db + "-wal"); err == nil {
			t.Errorf("ckpt %s left a log beside the file", strings.Join(args, " "))
		}
		if args[0] == "gc" && !slices.Contains(args, "--dry-run") && !strings.Contains(r.stdout, "0 checkpoints") && !strings.Contains(r.stdout, `"checkpoints": 0`) {
			t.Errorf("ckpt %s: want 0 checkpoints deleted:\n%s", strings.Join(args, " "), r)
		}
	}
}

// diffBytes is how many bytes a and b differ in (a length's difference
// counted whole).
func diffBytes(a, b []byte) int {
	n := max(len(a), len(b)) - min(len(a), len(b))
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	if n == 0 && !bytes.Equal(a, b) {
		n = 1
	}
	return n
}

// TestH200RekeyNothingToResealLeavesFileAsItWas: ckpt rekey on a store
// already sealed under the first --key-file key prints "0 records
// re-sealed" and changed the file's bytes: the same cause as gc's (the
// read-write open alone wrote to the file: the log's binding, and Close's
// clearing of its live mark). The library now binds its log only before
// the log's first record (internal/engine/bind.go), so a rekey that
// re-seals nothing writes nothing.
func TestH200RekeyNothingToResealLeavesFileAsItWas(t *testing.T) {
	dir, _ := demoFixture(t)
	key := filepath.Join(dir, "k1")
	if err := os.WriteFile(key, []byte("1 "+strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := runIn(t, dir, "", "export", "demo.db", "-o", "dump.jsonl"); r.code != 0 {
		t.Fatalf("export:\n%s", r)
	}
	if r := runIn(t, dir, "", "import", "sealed.db", "dump.jsonl", "--key-file", key); r.code != 0 {
		t.Fatalf("import:\n%s", r)
	}
	db := filepath.Join(dir, "sealed.db")
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(db, old, old); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "rekey", "sealed.db", "--key-file", key)
	if r.code != 0 || !strings.Contains(r.stdout, "0 records re-sealed") {
		t.Fatalf("want 0 records re-sealed:\n%s", r)
	}
	after, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if n := diffBytes(before, after); n != 0 {
		t.Errorf("ckpt rekey with nothing to re-seal changed %d bytes of the file:\n%s", n, r)
	}
	if st, err := os.Stat(db); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("ckpt rekey with nothing to re-seal: the file's mtime is no longer %v: %v %v", old, st.ModTime(), err)
	}
	if _, err := os.Lstat(db + "-wal"); err == nil {
		t.Errorf("ckpt rekey left a log beside the file")
	}
}
