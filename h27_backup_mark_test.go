package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestBackupFileKeepsTheLiveMark: writers go on during BackupFile, and
// their groups wait in the log (the applier is held for the copy). On
// main, HoldCopy cleared the store file's live mark for the whole copy:
// the store killed then and its file copied, renamed or restored without
// its log opened with no error and without the checkpoints acknowledged
// during the backup. The file must say its log is live the whole time
// (the copy alone is cleared), and the copy must still open alone.
func TestBackupFileKeepsTheLiveMark(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := saveN(t, s, "t", 0, 3)
	lost := filepath.Join(dir, "lost.db") // the file alone, as a kill during the backup leaves it
	var during []string
	var once sync.Once
	dst := filepath.Join(dir, "backup.db")
	err = s.BackupFile(ctx, dst, BackupProgress(func(_, _ int64) {
		once.Do(func() {
			during = saveN(t, s, "t", 3, 2) // acknowledged (Sync), in the log only
			data, err := os.ReadFile(path)
			if err != nil {
				t.Error(err)
				return
			}
			if err := os.WriteFile(lost, data, 0o600); err != nil {
				t.Error(err)
			}
		})
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(during) == 0 {
		t.Fatal("the progress callback never ran")
	}
	checkLogMissingRefused(t, lost)

	// The backup holds what was acknowledged before it, opens alone.
	b, err := Open(dst, Options{})
	if err != nil {
		t.Fatalf("Open the backup alone: %v", err)
	}
	checkLoads(t, b, "t", before)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	checkLoads(t, s, "t", append(before, during...))
}
