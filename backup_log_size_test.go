package ckpt

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestBackupWithALogIsNotFarLargerThanTheData: a backup of a store whose
// log a crashed writer left unapplied (ckpt backup opens it read-only)
// replays the log into the copy, and that write grew the copy by bbolt's
// default step (AllocSize, 16 MiB): a store of a few dozen KiB backed up
// to a 16 MiB file. The copy grows by the store's step (engine.GrowStep),
// as every other write to a store file does.
func TestBackupWithALogIsNotFarLargerThanTheData(t *testing.T) {
	t.Parallel()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "s.db"))
	var acked []backupAck
	for step := range 30 {
		id, err := s.Save(context.Background(), backupThread(0), backupState(0, step), Metadata{"step": step})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, backupAck{0, step, id})
	}
	src := crashCopy(t, s)
	r, err := Open(src, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const most = 1 << 20
	dir := t.TempDir()
	file := filepath.Join(dir, "file.db")
	if err := r.BackupFile(context.Background(), file); err != nil {
		t.Fatalf("BackupFile: %v", err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > most {
		t.Errorf("BackupFile of a store with a log wrote %d bytes, want at most %d", fi.Size(), most)
	}
	checkBackupCopy(t, file, acked)
	var buf bytes.Buffer
	if err := r.Backup(context.Background(), &buf); err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if buf.Len() > most {
		t.Errorf("Backup of a store with a log wrote %d bytes, want at most %d", buf.Len(), most)
	}
}
