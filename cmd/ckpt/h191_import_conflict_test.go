package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// 'ckpt import FILE DUMP' of a dump holding a thread FILE already has:
// the command refused ("already exists ...; nothing imported, FILE left
// as it was"), but it had opened FILE for writing before it met the
// thread, and a read-write open writes (bbolt's meta pages, the log's
// binding): FILE's bytes changed. A refused import must leave FILE
// byte-identical with no log beside it, the thread first in the dump or
// after new ones, the dump given as a file or on stdin.
func TestH191ImportConflictLeavesTheFileAsItWas(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	// other.db: "a-new" (not in demo.db, first in the dump) and "demo".
	other := filepath.Join(dir, "other.db")
	copyFile(t, db, other)
	ok(t, dir, "cp", "other.db", "demo", "a-new")
	ok(t, dir, "export", "demo.db", "-o", "same.jsonl")
	ok(t, dir, "export", "other.db", "-o", "later.jsonl")
	want, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, dump := range []string{"same.jsonl", "later.jsonl"} {
		body, err := os.ReadFile(filepath.Join(dir, dump))
		if err != nil {
			t.Fatal(err)
		}
		for _, stdin := range []bool{false, true} {
			var r result
			if stdin {
				r = runIn(t, dir, string(body), "import", "demo.db")
			} else {
				r = runIn(t, dir, "", "import", "demo.db", dump)
			}
			failsWith(t, r, 1, `thread "demo" is already in the store (delete it first or import into another file); nothing imported, demo.db left as it was`)
			got, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: ckpt %v (stdin %v): demo.db's bytes changed", dump, r.args, stdin)
			}
			if _, err := os.Lstat(db + "-wal"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: ckpt %v: a log beside demo.db: %v", dump, r.args, err)
			}
			// Each case on the file as it was.
			if err := os.WriteFile(db, want, 0o600); err != nil {
				t.Fatal(err)
			}
			_ = os.Remove(db + "-wal")
		}
	}
	// The check refuses only a thread that is there: the new one imports.
	if r := runIn(t, dir, "", "rm", "--yes", "other.db", "demo"); r.code != 0 {
		t.Fatal(r)
	}
	ok(t, dir, "export", "other.db", "-o", "new.jsonl")
	if r := ok(t, dir, "import", "demo.db", "new.jsonl"); !bytes.Contains([]byte(r.stdout), []byte("imported into demo.db: 1 thread")) {
		t.Errorf("import of a new thread:\n%s", r)
	}
}
