package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestImportOfARefusedDumpLeavesTheFileAsItWas: 'ckpt import FILE DUMP'
// into an existing store, DUMP no dump this build reads (from a file
// and from stdin). The command said "nothing imported, FILE left as it
// was", but it had opened FILE for writing before it read the dump's
// first line, and a read-write open writes (the log's binding, bbolt's
// meta pages): FILE's bytes changed. It must be byte-identical, with no
// log left beside it.
func TestImportOfARefusedDumpLeavesTheFileAsItWas(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	want, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, dump, msg string }{
		{"no header", "garbage\n", "not a ckpt dump"},
		{"empty", "", "the input is empty"},
		{"future format", `{"ckpt_export":99}` + "\n", "dump format 99"},
	} {
		dump := filepath.Join(dir, "bad.jsonl")
		if err := os.WriteFile(dump, []byte(c.dump), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, r := range []result{runIn(t, dir, "", "import", "demo.db", "bad.jsonl"), runIn(t, dir, c.dump, "import", "demo.db")} {
			failsWith(t, r, 1, c.msg)
			failsWith(t, r, 1, "nothing imported, demo.db left as it was")
			got, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: ckpt %v: demo.db changed", c.name, r.args)
			}
			if _, err := os.Lstat(db + "-wal"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: ckpt %v: a log beside demo.db: %v", c.name, r.args, err)
			}
		}
	}
}
