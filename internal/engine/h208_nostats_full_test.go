package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestFullDiskRollbackWithoutBoltStatistics: bbolt's NoStatistics (a
// bbolt option the store passes through) leaves db.Stats empty; a full
// disk's clean rollback must still fail the group alone, not the store
// (reloadedFreelist counts bbolt's free list after the rollback).
func TestFullDiskRollbackWithoutBoltStatistics(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "e.db")
	var fail atomic.Bool
	e, err := Open(path, Options{
		Bolt:     bolt.Options{Timeout: time.Minute, NoStatistics: true, FreelistType: bolt.FreelistMapType},
		LogPath:  path + "-wal",
		NoWAL:    true,
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
		Hooks: Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if fail.Load() {
				_ = tx.Rollback()
				return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
			}
			return tx.Commit()
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Commits that free pages: the file's free list is not empty.
	for i := range 8 {
		if err := do(e, put(fmt.Sprint("k", i%2))); err != nil {
			t.Fatal(err)
		}
	}
	fail.Store(true)
	if err := do(e, put("full")); !errors.Is(err, ErrDiskFull) {
		t.Fatalf("the write on a full disk: %v, want ErrDiskFull", err)
	}
	fail.Store(false)
	if err := e.Failed(); err != nil {
		t.Fatalf("a clean full-disk rollback failed the store: %v", err)
	}
	if err := do(e, put("after")); err != nil {
		t.Fatalf("a write once there is room: %v", err)
	}
}
