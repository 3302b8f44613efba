package ckpt

// A kill during a backup of a writing store, and the store's file then
// opened without its log (copied, renamed or hard-linked alone, or the log
// deleted: the h26-loglive finding). Writers go on during the copy, their
// groups acknowledged from the log while the applier waits for the copy:
// the file alone lacks them, so it must still say its log is live.

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestKillDuringBackupThenFileAloneIsRefused: a Sync Save acknowledged
// while a BackupFile copies, then the store's file and log as a kill at
// that moment leaves them: the file alone is refused (ErrCorrupt naming
// ckpt recover, as any file whose live log is missing), and with its log
// it holds the Save. Fails on main: the file alone opened without the
// acknowledged Save, no error (HoldCopy cleared the file's live mark for
// the whole copy).
func TestKillDuringBackupThenFileAloneIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	s := openUnappliedWith(t, path, Options{})
	saveN(t, s, "t", 0, 40)
	var once sync.Once
	var crashed string
	var id string
	err := s.BackupFile(ctx, filepath.Join(dir, "s.bak"), BackupProgress(func(written, total int64) {
		once.Do(func() {
			ids := saveN(t, s, "t", 40, 1) // acknowledged from the log
			id = ids[0]
			crashed = crashCopy(t, s) // the files a kill -9 now leaves
		})
	}))
	if err != nil {
		t.Fatal(err)
	}
	if crashed == "" {
		t.Fatal("the backup made no progress call")
	}
	// With its log: the Save is there.
	r, err := Open(crashed, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the killed store with its log: %v", err)
	}
	if _, err := r.Load(ctx, "t", id); err != nil {
		t.Errorf("the killed store with its log: the acknowledged Save: %v", err)
	}
	_ = r.Close()
	// Alone: refused, not opened without the Save.
	if err := os.Remove(crashed + walSuffix); err != nil {
		t.Fatal(err)
	}
	checkLogMissingRefused(t, crashed)
	// The backup, restored alone, is a whole store.
	b, err := Open(filepath.Join(dir, "s.bak"), Options{})
	if err != nil {
		t.Fatalf("the backup alone: %v", err)
	}
	_ = b.Close()
}
