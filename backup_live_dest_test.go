package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestBackupRefusesAStoreOpenAtTheDestination: a store open for writing at
// the destination (another Store, or another process) holds the file's
// lock. With NoWAL it has no -wal beside it, so only the lock tells that
// it is live: renaming the copy over it left that store writing to an
// unlinked file, and every write it acknowledged afterwards was gone at
// its next Open. BackupFile must refuse, and the live store keep all it
// acknowledged. A store open read-only there does not stop the backup: it
// goes on reading the file it opened.
func TestBackupRefusesAStoreOpenAtTheDestination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(filepath.Join(dir, "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	srcID, err := src.Save(ctx, "s", map[string]any{"v": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// makeDest leaves a store at dst holding one checkpoint of thread
	// "live", opened with opts.
	makeDest := func(t *testing.T, dst string, opts Options) (*Store, string) {
		live, err := Open(dst, Options{})
		if err != nil {
			t.Fatal(err)
		}
		id, err := live.Save(ctx, "live", map[string]any{"v": "before"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := live.Close(); err != nil {
			t.Fatal(err)
		}
		if live, err = Open(dst, opts); err != nil {
			t.Fatal(err)
		}
		return live, id
	}

	t.Run("NoWAL writer", func(t *testing.T) {
		dst := filepath.Join(dir, "nowal.db")
		live, before := makeDest(t, dst, Options{NoWAL: true})
		if err := src.BackupFile(ctx, dst); !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrLocked) {
			t.Errorf("BackupFile onto a store open for writing returned %v, want ErrInvalidConfig and ErrLocked", err)
		}
		after, err := live.Save(ctx, "live", map[string]any{"v": "after"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := live.Close(); err != nil {
			t.Fatal(err)
		}
		re, err := Open(dst, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer re.Close()
		for _, id := range []string{before, after} {
			if _, err := re.Load(ctx, "live", id); err != nil {
				t.Errorf("the live store's acknowledged checkpoint %s: %v", id, err)
			}
		}
	})

	t.Run("read-only reader", func(t *testing.T) {
		dst := filepath.Join(dir, "ro.db")
		ro, before := makeDest(t, dst, Options{ReadOnly: true})
		if err := src.BackupFile(ctx, dst); err != nil {
			t.Fatalf("BackupFile onto a store open read-only: %v", err)
		}
		if _, err := ro.Load(ctx, "live", before); err != nil {
			t.Errorf("the read-only store lost what it read: %v", err)
		}
		if err := ro.Close(); err != nil {
			t.Fatal(err)
		}
		re, err := Open(dst, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer re.Close()
		if _, err := re.Load(ctx, "s", srcID); err != nil {
			t.Errorf("the copy at the destination: %v", err)
		}
	})
}

// TestBackupRefusesAStoreOpenedAtAnAbsentDestination: the destination does
// not exist when BackupFile begins, so there is no file to lock; a NoWAL
// store opened there during the copy creates it and holds it for writing.
// Renaming the copy over it left that store writing to an unlinked file:
// what it acknowledged was gone at its next Open. BackupFile must refuse
// (as for a store open there from the start), and the store keep all it
// acknowledged.
func TestBackupRefusesAStoreOpenedAtAnAbsentDestination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(filepath.Join(dir, "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Save(ctx, "s", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "absent.db")
	var live *Store
	var acked []string
	var openErr error
	during := func(written, total int64) {
		if live != nil || openErr != nil {
			return
		}
		if live, openErr = Open(dst, Options{NoWAL: true}); openErr != nil {
			return
		}
		id, err := live.Save(ctx, "live", map[string]any{"v": "during"}, nil)
		if err != nil {
			openErr = err
			return
		}
		acked = append(acked, id)
	}
	err = src.BackupFile(ctx, dst, BackupProgress(during))
	if openErr != nil {
		t.Fatal(openErr)
	}
	if live == nil {
		t.Fatal("the backup reported no progress: no store was opened during the copy")
	}
	if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, ErrLocked) {
		t.Errorf("BackupFile onto a store opened during the copy returned %v, want ErrInvalidConfig and ErrLocked", err)
	}
	id, err := live.Save(ctx, "live", map[string]any{"v": "after"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	acked = append(acked, id)
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	re, err := Open(dst, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer re.Close()
	for _, id := range acked {
		if _, err := re.Load(ctx, "live", id); err != nil {
			t.Errorf("the live store's acknowledged checkpoint %s: %v", id, err)
		}
	}
}
