package ckpt

// A store opened from a backup: bbolt's Tx.WriteTo (BackupFile) writes
// the newest transaction N into meta page 0 and N-1 into meta page 1,
// where bbolt's own commits put transaction t into page t%2. When N is
// odd, the first commit after the Open (N+1) goes to page 0 over N. A
// full disk at that commit must fail the write alone (the page write) or
// fail the store with the failed write never showing up (its meta page
// landed), as on a store bbolt wrote itself (diskfull_goes_on_test.go).

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// oddBackup makes a backup of a store of NoWAL saves in thread "t" whose
// newest transaction is odd (so in meta page 0 of the copy, where bbolt
// would write the next one), and returns its path and the saves' ids.
func oddBackup(t *testing.T) (string, []string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "src.db"), Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ids := saveN(t, s, "t", 0, 3)
	dst := filepath.Join(dir, "b.db")
	for i := 3; i < 6; i++ {
		_ = os.Remove(dst)
		if err := s.BackupFile(ctx, dst); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(dst, 0o600, &bolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var txid int
		err = db.View(func(tx *bolt.Tx) error { txid = tx.ID(); return nil })
		if err := errors.Join(err, db.Close()); err != nil {
			t.Fatal(err)
		}
		if txid%2 == 1 {
			return dst, ids
		}
		ids = append(ids, saveN(t, s, "t", i, 1)...)
	}
	t.Fatal("no backup with an odd transaction id")
	return "", nil
}

func TestDiskFullOnAStoreOpenedFromABackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("page write", func(t *testing.T) {
		t.Parallel()
		path, ids := oddBackup(t)
		full := new(atomic.Bool)
		s, err := Open(path, Options{NoWAL: true, tuning: &tuning{hooks: engine.Hooks{CommitBolt: noSpaceCommit(full, path)}}})
		if err != nil {
			t.Fatal(err)
		}
		full.Store(true)
		_, err = s.Save(ctx, "t", map[string]any{"i": 100}, Metadata{"i": 100})
		wantDiskFull(t, boltFullSeams[0], "the first Save of a store opened from a backup, on a full disk", err)
		full.Store(false)
		ids = append(ids, saveN(t, s, "t", 101, 2)...) // the same store, once there is room
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		checkExactly(t, path, Options{NoWAL: true}, ids)
	})
	t.Run("after the meta page", func(t *testing.T) {
		t.Parallel()
		path, ids := oddBackup(t)
		var full atomic.Bool
		commit := func(tx *bolt.Tx) error {
			if full.Load() {
				if err := tx.Commit(); err != nil {
					return err
				}
				return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
			}
			return tx.Commit()
		}
		s, err := Open(path, Options{NoWAL: true, tuning: &tuning{hooks: engine.Hooks{CommitBolt: commit}}})
		if err != nil {
			t.Fatal(err)
		}
		full.Store(true)
		_, err = s.Save(ctx, "t", map[string]any{"i": 100}, Metadata{"i": 100})
		if err == nil {
			t.Fatal("a Save whose commit failed after its meta page returned nil")
		}
		_ = s.Close()
		checkExactly(t, path, Options{NoWAL: true}, ids) // the failed Save is not there
	})
}
