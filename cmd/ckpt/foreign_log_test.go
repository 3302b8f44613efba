//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A -wal beside a store that is another store's (a backup restored beside
// the old file's -wal, two logs swapped): no byte of it is damaged, and
// the commands called it "a damaged write-ahead log", recover "the log's
// header was damaged" (h116's note). They say it is not the store's own.
func TestForeignLogIsNotCalledDamaged(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	h31Logged(t, a)
	h31Logged(t, b)
	other, err := os.ReadFile(filepath.Join(b, "f.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, "f.db-wal"), other, 0o600); err != nil {
		t.Fatal(err)
	}
	r := h31Exec(t, a, "threads", "f.db")
	if r.code != 1 || strings.Contains(r.stderr, "damaged") || !strings.Contains(r.stderr, "not its own") || !strings.Contains(r.stderr, "ckpt recover") {
		t.Fatalf("threads with another store's log beside the file:\n%s", r)
	}
	r = h31Exec(t, a, "recover", "f.db")
	if r.code != 0 || strings.Contains(r.stdout, "header was damaged") || !strings.Contains(r.stdout, "not this store's") {
		t.Fatalf("recover of another store's log:\n%s", r)
	}
}
