package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// An Async write that fails with its group (a failed log fsync or bbolt
// commit, a full disk), not in its own Apply, is named in its error as
// docs/durability.md promises: the checkpoint id its Save returned, the
// task of a PutWrites. Before, only failures of the write's own Apply
// (ErrConflict, a missing checkpoint) named it, and a caller could not
// tell which acknowledged writes a failed fsync lost.
func TestH150AsyncGroupFailureNamesTheWrite(t *testing.T) {
	diskFull := &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	for _, c := range []struct {
		name  string
		noWAL bool
		hooks func(fail *atomic.Bool) engine.Hooks
		want  error
	}{
		{"log fsync", false, func(fail *atomic.Bool) engine.Hooks {
			return engine.Hooks{SyncLog: func(f *os.File) error {
				if fail.Load() {
					return errors.New("fsync on fire")
				}
				return engine.Fdatasync(f)
			}}
		}, ErrFailed},
		{"bolt commit", true, func(fail *atomic.Bool) engine.Hooks {
			return engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
				if fail.Load() {
					_ = tx.Rollback()
					return errors.New("commit on fire")
				}
				return tx.Commit()
			}}
		}, ErrFailed},
		{"disk full", true, func(fail *atomic.Bool) engine.Hooks {
			return engine.Hooks{CommitBolt: failWhenFull(fail, diskFull)}
		}, ErrDiskFull},
	} {
		t.Run(c.name, func(t *testing.T) {
			var fail atomic.Bool
			var mu sync.Mutex
			var heard []string
			s, err := Open(filepath.Join(t.TempDir(), "s.ckpt"), Options{
				Durability: Async, NoWAL: c.noWAL,
				OnAsyncError: func(err error) { mu.Lock(); heard = append(heard, err.Error()); mu.Unlock() },
				tuning:       &tuning{hooks: c.hooks(&fail)},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			id0, err := s.Save(WithWriteOptions(ctx, WriteOptions{Durability: Sync}), "t", map[string]any{"v": 0}, nil)
			if err != nil {
				t.Fatal(err)
			}
			fail.Store(true)
			id, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
			if err != nil {
				t.Fatalf("Async Save: %v", err)
			}
			werr := s.PutWrites(ctx, Config{ThreadID: "t", CheckpointID: id0}, []Write{{Channel: "w", Value: 1}}, "task-h150", "")
			if werr != nil && !errors.Is(werr, ErrFailed) {
				t.Fatalf("Async PutWrites: %v", werr)
			}
			// On a failed store Flush may return ErrFailed before the
			// commit loop noted the write's failure, which then goes to
			// Close: the name must be in one of them. Close also waits
			// until OnAsyncError heard of everything.
			ferr := s.Flush(ctx)
			if !errors.Is(ferr, c.want) && !errors.Is(ferr, ErrFailed) {
				t.Fatalf("Flush: %v, want %v", ferr, c.want)
			}
			cerr := s.Close()
			both := errors.Join(ferr, cerr)
			names := []string{"save of checkpoint " + id + ` in thread "t"`}
			if werr == nil {
				names = append(names, `pending writes of task "task-h150"`)
			}
			mu.Lock()
			all := strings.Join(heard, "\n")
			mu.Unlock()
			for _, n := range names {
				if k := strings.Count(both.Error(), n); k != 1 {
					t.Errorf("Flush's and Close's errors name %s %d times: %v", n, k, both)
				}
				if !strings.Contains(all, n) {
					t.Errorf("OnAsyncError did not name %s: %s", n, all)
				}
			}
		})
	}
}
