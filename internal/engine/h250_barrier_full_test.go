package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestH250BarrierSharingAFullGroupLeavesTheAsyncFailure: an Async write
// and a barrier queued after it share a group whose commit finds no room
// (NoWAL: bbolt's commit rolled back, ErrDiskFull; the group failed
// alone, the store goes on). The Async write's failure is its own, kept
// for the next Flush or Close: a WaitDurable (Rekey's wait) has nothing
// of its own that failed and must return nil, leaving it there, and a
// Barrier (Flush) must report it once, not once as its own failure and
// again as the async failure it takes. Before, the barrier got the
// group's error as its own: Rekey returned "make the re-sealing
// durable: ... no space" for a re-sealing that was durable, and a Flush
// reported one lost write twice.
func TestH250BarrierSharingAFullGroupLeavesTheAsyncFailure(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("KeepAsync=%v", keep), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "e.db")
			var full atomic.Bool
			e, err := Open(path, Options{
				Bolt:     bolt.Options{Timeout: time.Minute},
				LogPath:  path + "-wal",
				NoWAL:    true,
				Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
				Observer: nopObserver{},
				Hooks:    Hooks{CommitBolt: h250NoRoom(path, &full)},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := do(e, put("before")); err != nil {
				t.Fatal(err)
			}
			h250SharedGroup(t, e, keep, full.Store, put("async"))
		})
	}
}

// h250SharedGroup commits an Async write (async, without Done) and a
// barrier after it (KeepAsync: keep) as one group, with setFull(true)
// making its commit find no room, and checks each outcome (the test
// above). It closes e.
func h250SharedGroup(t *testing.T, e *Engine, keep bool, setFull func(bool), async *Op) {
	t.Helper()
	async.Ctx = context.Background() // no Done: an Async write
	barrier := &Op{Ctx: context.Background(), Done: make(chan error, 1), KeepAsync: keep}
	// One group, built by the commit loop itself.
	if err := do(e, &Op{Solo: func() error {
		setFull(true)
		defer setFull(false)
		e.commitGroup([]*Op{async, barrier})
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	got := <-barrier.Done
	if err := e.Failed(); err != nil {
		t.Fatalf("the store failed: %v (a full disk fails the group alone)", err)
	}
	rest := e.TakeAsyncErr()
	if keep {
		if got != nil {
			t.Errorf("WaitDurable = %v, want nil: the failure is the Async write's, not its own", got)
		}
		if !errors.Is(rest, ErrDiskFull) {
			t.Errorf("the async failures after WaitDurable: %v, want the Async write's ErrDiskFull kept", rest)
		}
	} else {
		if !errors.Is(got, ErrDiskFull) || !strings.Contains(fmt.Sprint(got), "async write failed") {
			t.Errorf("Barrier = %v, want the Async write's ErrDiskFull", got)
		}
		if n := strings.Count(fmt.Sprint(got), "no space left"); n != 1 {
			t.Errorf("Barrier = %v: the one lost write reported %d times, want once", got, n)
		}
		if rest != nil {
			t.Errorf("the async failures after Barrier: %v, want none left", rest)
		}
	}
	if err := do(e, put("after")); err != nil {
		t.Errorf("a write after the full group: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestH250BarrierSharingAGroupWhoseLogBindingFoundNoRoom: the same when
// the shared group is the session's first record, and the commit that
// binds the new log to the file (bindFirst) finds no room, rolled back
// cleanly: the group fails alone, its writes with ErrDiskFull, nothing of
// it logged, and the barrier has nothing before it to wait for.
func TestH250BarrierSharingAGroupWhoseLogBindingFoundNoRoom(t *testing.T) {
	t.Parallel()
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("KeepAsync=%v", keep), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "e.db")
			var full atomic.Bool
			e, err := Open(path, Options{
				Bolt:     bolt.Options{Timeout: time.Minute},
				LogPath:  path + "-wal",
				Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied"), Log: []byte("log"), Live: []byte("live")},
				Observer: nopObserver{},
				Hooks:    Hooks{CommitBind: h250NoRoom(path, &full)},
			})
			if err != nil {
				t.Fatal(err)
			}
			h250SharedGroup(t, e, keep, full.Store, put("async"))
		})
	}
}

// h250NoRoom is a commit hook that, once full is set, rolls the
// transaction back and fails as a write finding no room on path's disk.
func h250NoRoom(path string, full *atomic.Bool) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if full.Load() {
			_ = tx.Rollback()
			return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return tx.Commit()
	}
}
