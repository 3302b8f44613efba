package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestH232BackupFileThatPlacedTheCopyIsCounted: a BackupFile whose error
// carries a *ReplacedError put the whole copy at the path (only the
// directory's fsync after the rename failed: the new name may not
// survive a power cut), as a Compact with that error replaced the file.
// Metrics counts such a Compact as a run since h227; it must count such
// a backup in Backups too (the copy is there, readable, whole), and a
// BackupFile that failed before its copy was in place not at all. It
// counted none.
func TestH232BackupFileThatPlacedTheCopyIsCounted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var fail atomic.Bool
	tune := &tuning{hooks: engine.Hooks{SyncDir: func(d string) error {
		if fail.Load() {
			return errH232DirSync
		}
		return engine.SyncDir(d)
	}}}
	s, err := Open(filepath.Join(dir, "s.db"), Options{tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	dest := filepath.Join(dir, "b.db")
	err = s.BackupFile(ctx, dest)
	fail.Store(false)
	if replacedIn(err) == nil || !errors.Is(err, ErrNotDurable) {
		t.Fatalf("BackupFile with the directory's fsync failing = %v, want a *ReplacedError (ErrNotDurable)", err)
	}
	if _, serr := os.Stat(dest); serr != nil {
		t.Fatalf("the copy is not at %s after a *ReplacedError: %v", dest, serr)
	}
	if m := s.Metrics(); m.Backups != 1 {
		t.Errorf("Backups = %d after a BackupFile whose copy is in place (%v), want 1", m.Backups, err)
	}
	// A failure before the copy is in place: nothing at the path, no
	// backup counted.
	if err := s.BackupFile(ctx, filepath.Join(dir, "missing", "b.db")); err == nil {
		t.Fatal("BackupFile into a missing directory succeeded")
	}
	if m := s.Metrics(); m.Backups != 1 {
		t.Errorf("Backups = %d after a BackupFile that placed nothing, want 1", m.Backups)
	}
}

var errH232DirSync = errors.New("fsync of the directory failed (test)")
