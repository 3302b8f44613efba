package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// verifyClean opens the store file at path read-only and fails t unless
// Verify finds nothing wrong.
func verifyClean(t *testing.T, path string) {
	t.Helper()
	c, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("open %s: %v", filepath.Base(path), err)
	}
	defer c.Close()
	rep, err := c.Verify(context.Background(), VerifyOptions{})
	if err != nil {
		t.Fatalf("verify %s: %v", filepath.Base(path), err)
	}
	if !rep.OK() {
		t.Fatalf("verify %s: %+v", filepath.Base(path), rep.Problems)
	}
}

// saveSteps saves steps [from, to) of thread 0 and returns them.
func saveSteps(t *testing.T, s *Store, from, to int) []backupAck {
	t.Helper()
	var acked []backupAck
	for step := from; step < to; step++ {
		id, err := s.Save(context.Background(), backupThread(0), backupState(0, step), Metadata{"step": step})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, backupAck{0, step, id})
	}
	return acked
}

// TestBackupKilledAfterItsLinkLeavesAWholeCopy: BackupFile links its
// temporary file to an absent destination, then removes the temporary
// name. A backup killed between the two leaves both names on one file:
// the destination must already be a whole copy that Verify finds clean, and
// the next backup to it must remove the leftover name without touching the
// copy through it, and replace the copy with a whole new one. (The kill is
// modelled by the link seam: it links, and keeps a second temporary-like
// name on the file, as the killed backup's process would have left.)
func TestBackupKilledAfterItsLinkLeavesAWholeCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dst := filepath.Join(dir, "dst.db")
	leftover := filepath.Join(dir, "dst.db"+backupTempInfix+"killed"+backupTempSuffix)
	var killed atomic.Bool
	killed.Store(true)
	tune := tuning{linkFile: func(oldname, newname string) error {
		if err := os.Link(oldname, newname); err != nil || !killed.Load() {
			return err
		}
		return os.Link(oldname, leftover) // the name the killed backup left
	}}
	s, err := Open(filepath.Join(dir, "src.db"), Options{tuning: &tune})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acked := saveSteps(t, s, 0, 20)
	if err := s.BackupFile(ctx, dst); err != nil {
		t.Fatal(err)
	}
	checkBackupCopy(t, dst, acked)
	verifyClean(t, dst)
	a, errA := os.Stat(dst)
	b, errB := os.Stat(leftover)
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		t.Fatalf("the modelled kill left no second name on the copy (%v, %v)", errA, errB)
	}

	killed.Store(false)
	acked = append(acked, saveSteps(t, s, 20, 40)...)
	if err := s.BackupFile(ctx, dst); err != nil {
		t.Fatalf("the backup after the killed one: %v", err)
	}
	if _, err := os.Lstat(leftover); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the killed backup's temporary name is still there (%v)", err)
	}
	if left := backupTemps(t, dst); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	checkBackupCopy(t, dst, acked)
	verifyClean(t, dst)
}

// TestBackupWithoutHardLinks: on a filesystem without hard links the copy
// goes in by the lock check and a rename, with the same refusals: a store
// opened for writing at the destination during the copy (ErrLocked), and a
// log beside the destination that appeared during the copy, here while
// the link was tried (the check under the rename's lock).
func TestBackupWithoutHardLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	noLink := func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: errors.ErrUnsupported}
	}
	open := func(t *testing.T, link func(oldname, newname string) error) (*Store, []backupAck) {
		s, err := Open(filepath.Join(t.TempDir(), "src.db"), Options{tuning: &tuning{linkFile: link}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s, saveSteps(t, s, 0, 10)
	}

	t.Run("absent, then present destination", func(t *testing.T) {
		t.Parallel()
		s, acked := open(t, noLink)
		dst := filepath.Join(t.TempDir(), "dst.db")
		for round := range 2 {
			if err := s.BackupFile(ctx, dst); err != nil {
				t.Fatalf("backup %d: %v", round, err)
			}
			checkBackupCopy(t, dst, acked)
			verifyClean(t, dst)
			if left := backupTemps(t, dst); len(left) > 0 {
				t.Fatalf("temporary files left: %v", left)
			}
			acked = append(acked, saveSteps(t, s, 10+10*round, 20+10*round)...)
		}
	})

	t.Run("a store opened for writing during the copy", func(t *testing.T) {
		t.Parallel()
		s, _ := open(t, noLink)
		dst := filepath.Join(t.TempDir(), "dst.db")
		var live *Store
		var openErr error
		err := s.BackupFile(ctx, dst, BackupProgress(func(int64, int64) {
			if live == nil && openErr == nil {
				live, openErr = Open(dst, Options{NoWAL: true})
			}
		}))
		if openErr != nil {
			t.Fatal(openErr)
		}
		if live == nil {
			t.Fatal("no progress reported: no store opened during the copy")
		}
		defer live.Close()
		if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrLocked) {
			t.Fatalf("BackupFile returned %v, want ErrInvalidConfig and ErrLocked", err)
		}
		id, err := live.Save(ctx, "live", map[string]any{"v": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := live.Load(ctx, "live", id); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a log beside the destination while the link is tried", func(t *testing.T) {
		t.Parallel()
		var dst string
		s, _ := open(t, func(oldname, newname string) error {
			if err := os.WriteFile(dst+walSuffix, []byte("a foreign log"), 0o600); err != nil {
				return err
			}
			return noLink(oldname, newname)
		})
		dst = filepath.Join(t.TempDir(), "dst.db")
		if err := s.BackupFile(ctx, dst); !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("BackupFile returned %v, want ErrInvalidConfig", err)
		}
		if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a copy was put beside the foreign log (%v)", err)
		}
		if left := backupTemps(t, dst); len(left) > 0 {
			t.Errorf("temporary files left: %v", left)
		}
	})
}
