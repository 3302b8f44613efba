package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestExportRefusesToOverwriteTheStore: `ckpt export FILE -o FILE` (or
// -o FILE-wal, or another name of the same file) must not touch the
// store. Without the check, os.Create truncated the open store under the
// export, which then failed on the missing pages and removed its "partial
// dump": the store file itself, gone (and the process hung in Close).
func TestExportRefusesToOverwriteTheStore(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	link := filepath.Join(dir, "alias.db")
	if err := os.Link(db, link); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{db, "demo.db", link, db + "-wal"} {
		t.Run(filepath.Base(out), func(t *testing.T) {
			failsWith(t, runIn(t, dir, "", "export", db, "-o", out), exitUsage, "is the store file or its log")
			now, err := os.ReadFile(db)
			if err != nil || !bytes.Equal(now, before) {
				t.Fatalf("the store file changed (%v)", err)
			}
			if _, err := os.Stat(db + "-wal"); err == nil {
				t.Fatal("a -wal file was left beside the store")
			}
		})
	}
	ok(t, dir, "verify", db)
}

// TestOpenErrorNamesTheFileAtFault: when the file under the store's
// write-ahead log's name is no log (here a directory at FILE-wal: no
// regular file, refused unread since 90d841f), the error names the log and
// why, not the store file, which is fine and unchanged.
func TestOpenErrorNamesTheFileAtFault(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	if err := os.Mkdir(db+"-wal", 0o755); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"threads", db}, {"gc", "--keep-last", "1", db}} {
		failsWith(t, runIn(t, dir, "", args...), exitError, "demo.db-wal is not this store's: the file under the write-ahead log's name is not a log: it is a directory, not a regular file")
	}
	if now, err := os.ReadFile(db); err != nil || !bytes.Equal(now, before) {
		t.Fatalf("the store file changed (%v)", err)
	}
}
