package ckpt

// A full disk fails the writes that do not fit, not the store: a bbolt
// commit that fails with ENOSPC before any fsync of its pages (bbolt rolls
// it back, tx.go) is injected through the engine's CommitBolt seam, as
// bbolt returns it (a *os.PathError of the write, after its rollback).
// Without the log the Save fails alone; with it the applier keeps the
// groups logged and retries, ApplyLog and the writers past the unapplied
// limit get the error instead of waiting, Close keeps the log; once the
// disk has room again the same store writes and applies. Generic commit
// errors still fail-stop (failstop_test.go).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// A boltFullSeam is a CommitBolt seam that, while full is set, fails as
// bbolt's Commit does when the disk has no room, rolled back: a page
// write's *os.PathError (ENOSPC), or the file's growth, which bbolt v1.5.0
// (db.go, grow) reports as text only, "file resize error: %s", the errno
// lost. Both must be ErrDiskFull, naming the system's error.
type boltFullSeam struct {
	name   string
	commit func(full *atomic.Bool, path string) func(tx *bolt.Tx) error
	says   func(err error) bool // the system's error is in err
}

var boltFullSeams = []boltFullSeam{
	{"page write", func(full *atomic.Bool, path string) func(tx *bolt.Tx) error {
		return failWhenFull(full, &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC})
	}, func(err error) bool { return errors.Is(err, syscall.ENOSPC) }},
	{"growth", func(full *atomic.Bool, path string) func(tx *bolt.Tx) error {
		return failWhenFull(full, errors.New("file resize error: "+(&os.PathError{Op: "truncate", Path: path, Err: syscall.EFBIG}).Error()))
	}, func(err error) bool { return strings.Contains(fmt.Sprint(err), syscall.EFBIG.Error()) }},
}

func failWhenFull(full *atomic.Bool, failure error) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if full.Load() {
			_ = tx.Rollback()
			return failure
		}
		return tx.Commit()
	}
}

// noSpaceCommit is the page-write seam (the other tests' full disk).
func noSpaceCommit(full *atomic.Bool, path string) func(tx *bolt.Tx) error {
	return boltFullSeams[0].commit(full, path)
}

// openOnSeam opens a store at a new path in t's directory whose bbolt
// commits fail as seam's once the returned full is set, with 3 saves in
// thread "t" (their ids).
func openOnSeam(t *testing.T, seam boltFullSeam, o Options) (s *Store, path string, full *atomic.Bool, ids []string) {
	t.Helper()
	full = new(atomic.Bool)
	path = filepath.Join(t.TempDir(), "s.db")
	o.tuning = &tuning{hooks: engine.Hooks{CommitBolt: seam.commit(full, path)}}
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	return s, path, full, saveN(t, s, "t", 0, 3)
}

// wantDiskFull fails t unless err is a disk-full error naming the seam's
// system error that left the store going (not ErrFailed). (Before
// 106f0d1 a failed growth, its errno kept as text only, was not
// ErrDiskFull: the CLI's import under a file size limit exited 1 with
// everything imported.)
func wantDiskFull(t *testing.T, seam boltFullSeam, what string, err error) {
	t.Helper()
	if !seam.says(err) || !errors.Is(err, ErrDiskFull) || errors.Is(err, ErrFailed) {
		t.Fatalf("%s (%s) = %v, want an error wrapping ErrDiskFull and naming the system's error, not ErrFailed", what, seam.name, err)
	}
}

// checkExactly reopens path and checks that thread "t" holds exactly ids
// (every acknowledged save, nothing else), and Verify is clean.
func checkExactly(t *testing.T, path string, o Options, ids []string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkLoads(t, s, "t", ids)
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	n := 0
	for tp, err := range s.List(ctx, ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatal(err)
		}
		if !want[tp.Config.CheckpointID] {
			t.Errorf("checkpoint %s is there, never acknowledged", tp.Config.CheckpointID)
		}
		n++
	}
	if n != len(ids) {
		t.Errorf("%d checkpoints after the reopen, want the %d acknowledged", n, len(ids))
	}
	if rep, err := s.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("Verify: %+v, %v", rep, err)
	}
}

func TestNoWALDiskFullCommitFailsAlone(t *testing.T) {
	t.Parallel()
	for _, seam := range boltFullSeams {
		t.Run(seam.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, path, full, ids := openOnSeam(t, seam, Options{NoWAL: true})
			full.Store(true)
			for i := 3; i < 6; i++ {
				_, err := s.Save(ctx, "t", map[string]any{"i": i}, Metadata{"i": i})
				wantDiskFull(t, seam, "Save on a full disk", err)
				if ErrorKindOf(err) != ErrKindDiskFull {
					t.Fatalf("Save on a full disk: kind %v, want ErrKindDiskFull", ErrorKindOf(err))
				}
			}
			full.Store(false)
			ids = append(ids, saveN(t, s, "t", 6, 3)...) // the same store, once there is room
			checkLoads(t, s, "t", ids)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			checkExactly(t, path, Options{NoWAL: true}, ids)
		})
	}
}

func TestLoggedDiskFullApplyGoesOn(t *testing.T) {
	t.Parallel()
	for _, seam := range boltFullSeams {
		t.Run(seam.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, path, full, ids := openOnSeam(t, seam, Options{})
			full.Store(true)
			// The log has room: saves go on while bbolt takes nothing.
			ids = append(ids, saveN(t, s, "t", 3, 3)...)
			wantDiskFull(t, seam, "ApplyLog on a full disk", s.ApplyLog(ctx))
			ids = append(ids, saveN(t, s, "t", 6, 2)...)
			checkLoads(t, s, "t", ids)
			full.Store(false)
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatalf("ApplyLog once there is room: %v", err)
			}
			ids = append(ids, saveN(t, s, "t", 8, 2)...)
			// A Close while bbolt takes nothing keeps the log: the next
			// Open replays it.
			full.Store(true)
			wantDiskFull(t, seam, "Close on a full disk", s.Close())
			if _, err := os.Stat(path + walSuffix); err != nil {
				t.Fatalf("Close that could not apply removed the log: %v", err)
			}
			full.Store(false)
			checkExactly(t, path, Options{}, ids)
		})
	}
}

// Writers past the unapplied limit wait for an apply the commit loop runs
// itself: on a full disk they get its error, and write again once there is
// room. The limit met is the log's bound, lowered to pastLimitLog
// (engine.Hooks.MaxLog): the commit loop takes the same branch past either
// bound (openGroup: unapplied bytes over engine.MaxUnapplied or the log
// past its bound), and 32 MiB of values to meet MaxUnapplied cost 11 CPU s
// under -race (8 of them in the kernel, the detector's shadow of each
// value), for what 5 MiB shows.
func TestDiskFullPastUnappliedLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var full atomic.Bool
	path := filepath.Join(t.TempDir(), "s.db")
	o := Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true, CommitBolt: noSpaceCommit(&full, path), MaxLog: pastLimitLog}}}
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 1<<20)
	var ids []string
	full.Store(true)
	failed := 0
	for i := 0; failed < 2; i++ {
		if i > 2*pastLimitLog>>20 {
			t.Fatalf("%d saves of 1 MiB, none failed: the unapplied limit was never met", i)
		}
		// A value of its own each time: an unchanged channel is not stored again.
		id, err := s.Save(ctx, "t", map[string]any{"i": i, "big": strconv.Itoa(i) + big}, Metadata{"i": i})
		if err != nil {
			wantDiskFull(t, boltFullSeams[0], "Save past the unapplied limit on a full disk", err)
			failed++
			continue
		}
		ids = append(ids, id)
	}
	full.Store(false)
	id, err := s.Save(ctx, "t", map[string]any{"i": -1}, Metadata{"i": -1})
	if err != nil {
		t.Fatalf("Save once there is room: %v", err)
	}
	ids = append(ids, id)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkExactly(t, path, Options{}, ids)
}

// pastLimitLog is TestDiskFullPastUnappliedLimit's log bound.
const pastLimitLog = 4 << 20

// A commit whose meta page is there when it reports no room (bbolt's
// rollback may then have reloaded the freelist of the failed commit) is
// not taken for a clean one: the store fails, as for any unknown state,
// and the failed write is not read after a reopen (RevertMeta).
func TestDiskFullAfterTheMetaPageFailsStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var full atomic.Bool
	path := filepath.Join(t.TempDir(), "s.db")
	commit := func(tx *bolt.Tx) error {
		if full.Load() {
			if err := tx.Commit(); err != nil {
				return err
			}
			return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return tx.Commit()
	}
	for _, noWAL := range []bool{true, false} {
		full.Store(false)
		_ = os.Remove(path)
		s, err := Open(path, Options{NoWAL: noWAL, tuning: &tuning{hooks: engine.Hooks{CommitBolt: commit}}})
		if err != nil {
			t.Fatal(err)
		}
		ids := saveN(t, s, "t", 0, 3)
		// The three writes in the file before the fault: else an applier
		// later than usual (the test goroutine scheduled late on a busy
		// machine) commits them once full is set, the store fails, and
		// the logged Save below is refused (ErrFailed), failing the test
		// in saveN (shown with a 300 ms sleep after full.Store).
		if err := s.ApplyLog(ctx); err != nil {
			t.Fatal(err)
		}
		full.Store(true)
		if noWAL {
			_, err = s.Save(ctx, "t", map[string]any{"i": 3}, Metadata{"i": 3})
		} else {
			ids = append(ids, saveN(t, s, "t", 3, 1)...) // logged: acknowledged
			err = s.ApplyLog(ctx)
		}
		if !errors.Is(err, ErrFailed) || errors.Is(err, ErrDiskFull) {
			t.Fatalf("noWAL %v: a failed commit whose meta page landed = %v, want ErrFailed, not ErrDiskFull", noWAL, err)
		}
		_ = s.Close()
		full.Store(false)
		checkExactly(t, path, Options{NoWAL: noWAL}, ids)
	}
}
