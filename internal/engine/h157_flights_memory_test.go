package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"
	"weak"

	bolt "go.etcd.io/bbolt"
)

// TestFinishedGroupsLeaveTheLoopUnderSteadyLoad: under a steady stream of
// Sync groups some group is always in flight (each is logged while the
// one before waits for its fsync, so the list of flights never empties).
// Once bbolt holds a finished group and shared let go of it, nothing of
// the commit loop may keep its entries: the loop used to keep every
// group's entries in the tree of the groups in flight (unsynced), cleared
// only when no group was in flight, so a store written without a pause
// held every value written since the pause.
func TestFinishedGroupsLeaveTheLoopUnderSteadyLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steady.db")
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Small groups, so that neither the unapplied bound nor the log's
	// makes the loop drain its flights (which would hide the defect); in a
	// deep bucket, so that the writer's slabs (TreeWriter.items, .names),
	// which keep a group's entries as long as any entry cut from the same
	// slab, roll over within the first groups.
	const groups, watched = 40, 8
	deep := Path{[]byte("a"), []byte("b"), []byte("c"), []byte("d"), []byte("e"), []byte("f"), []byte("g"), []byte("h")}
	vals := make([]weak.Pointer[byte], groups)
	var gens [groups]uint64
	var problem error
	ops := make([]*Op, groups)
	err = do(e, &Op{Solo: func() error {
		for i := range groups {
			op := &Op{Ctx: context.Background(), Done: make(chan error, 1), Apply: func(w Writer) error {
				k := fmt.Appendf(nil, "k%03d", i)
				if err := w.Put(deep, k, fmt.Appendf(nil, "value %d", i)); err != nil {
					return err
				}
				vals[i] = weak.Make(&w.Get(deep, k)[0]) // the overlay's own copy
				return nil
			}}
			ops[i] = op
			e.commitGroup([]*Op{op})
			gens[i] = e.wal.written
			if i > 0 && len(e.wal.flights) == 0 {
				return fmt.Errorf("group %d: no group in flight: not a steady load", i)
			}
		}
		for i, op := range ops[:groups-1] {
			if err := <-op.Done; err != nil {
				return fmt.Errorf("group %d: %w", i, err)
			}
		}
		// The applier takes the finished groups in its goroutine: wait
		// for it to hold them all (no bound on time: a hang is the test's
		// timeout), then let shared go of them.
		for e.wal.ap.Applied() < gens[groups-2] {
			time.Sleep(time.Millisecond)
		}
		e.pruneApplied()
		// A reader takes the state published now: the frozen snapshot of
		// the state before the prune (Snapshots.Change) goes.
		e.wal.snaps.load()
		runtime.GC()
		runtime.GC()
		for i := range watched {
			if vals[i].Value() != nil {
				problem = fmt.Errorf("group %d of %d: applied, pruned from shared, %d group(s) in flight, and its value is still held", i+1, groups, len(e.wal.flights))
				break
			}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if problem != nil {
		t.Fatal(problem)
	}
	// The last group was in flight when the solo op ended: acknowledged
	// (and readable) once its fsync is.
	if err := <-ops[groups-1].Done; err != nil {
		t.Fatalf("group %d: %v", groups, err)
	}
	// Every value reads back.
	if err := e.View(context.Background(), func(r Reader) error {
		for i := range groups {
			if got, want := string(r.Get(deep, fmt.Appendf(nil, "k%03d", i))), fmt.Sprintf("value %d", i); got != want {
				return fmt.Errorf("k%03d = %q, want %q", i, got, want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
