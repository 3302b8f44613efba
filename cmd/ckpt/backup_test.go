package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackup copies a file a killed program left (its -wal beside it): the
// copy stands alone, verifies, and shows the same history as the source.
func TestBackup(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	crash(t, dir, "demo", "--thread", "second", "--crash-after", "3")
	dst := filepath.Join(t.TempDir(), "copy.db")
	r := ok(t, dir, "backup", db, dst)
	if !strings.Contains(r.stdout, "backed up") || !strings.Contains(r.stdout, ": OK") {
		t.Fatalf("backup output:\n%s", r)
	}
	if _, err := os.Stat(dst + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a log lies beside the copy (%v)", err)
	}
	for _, thread := range []string{"demo", "second"} {
		want := ok(t, dir, "log", db, thread, "--json").stdout
		if got := ok(t, dir, "log", dst, thread, "--json").stdout; got != want {
			t.Fatalf("thread %s: the copy's history differs:\n%s\nsource:\n%s", thread, got, want)
		}
	}
	ok(t, dir, "verify", dst)
	// Again over the first copy, with --json.
	rep := decodeJSON[map[string]any](t, ok(t, dir, "backup", db, dst, "--json"))
	if rep["ok"] != true || rep["bytes"].(float64) <= 0 {
		t.Fatalf("backup --json = %v", rep)
	}
}

func TestBackupErrors(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	failsWith(t, runIn(t, dir, "", "backup", db, db), 2, "own file") // a mistake in the arguments, as export -o FILE is
	failsWith(t, runIn(t, dir, "", "backup", filepath.Join(dir, "missing.db"), filepath.Join(dir, "x.db")), 1, "no such file")
	failsWith(t, runIn(t, dir, "", "backup", db), 2, "usage")
	startHolder(t, db, false)
	failsWith(t, runIn(t, dir, "", "--lock-timeout", "100ms", "backup", db, filepath.Join(dir, "x.db")), 1, "held by another process")
	if _, err := os.Stat(filepath.Join(dir, "x.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed backup left a file (%v)", err)
	}
}
