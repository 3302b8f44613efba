package ckpt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// Sync, NoSync and Async writers on their own threads, queued together,
// an Async writer whose every other Save names a stale parent with IfHead
// (ErrConflict in the commit loop), and a log fsync that fails at a random
// group, WAL and NoWAL (a failed bbolt commit there): every call that
// returned nil and was not reported to OnAsyncError is there with its own
// thread and values, no call that returned an error is, and an Async write
// is reported exactly when it is missing: before Close, in a crash copy,
// and after Close and a reopen.
func TestMixedDurabilitiesWithFailuresShowNoFailedWrite(t *testing.T) {
	t.Parallel()
	for seed := range uint64(6) {
		for _, noWAL := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed%d nowal %v", seed, noWAL), func(t *testing.T) {
				t.Parallel()
				mixedDurabilityRound(t, seed, noWAL)
			})
		}
	}
}

func mixedDurabilityRound(t *testing.T, seed uint64, noWAL bool) {
	rng := rand.New(rand.NewPCG(seed, 29))
	failAt := int64(2 + rng.IntN(14))
	var calls atomic.Int64
	fail := func() bool { return calls.Add(1) == failAt }
	hooks := engine.Hooks{SyncLog: func(f *os.File) error {
		if fail() {
			return errors.New("disk on fire")
		}
		return engine.Fdatasync(f)
	}}
	// With the log, the applier is held: the crash copy below is then
	// what a kill leaves (nothing writes bbolt's file meanwhile).
	hooks.HoldApplier = true
	if noWAL {
		hooks = engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if fail() {
				_ = tx.Rollback()
				return errors.New("disk on fire")
			}
			return tx.Commit()
		}}
	}
	var reported atomic.Int64
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: noWAL, OnAsyncError: func(err error) { reported.Add(int64(asyncFailures(err))) },
		tuning: &tuning{hooks: hooks}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	type outcome struct {
		thread string
		async  bool
	}
	var mu sync.Mutex
	ok := map[string]outcome{} // tag -> returned nil
	failed := map[string]bool{}
	note := func(tag, thread string, async bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err == nil {
			ok[tag] = outcome{thread, async}
		} else {
			failed[tag] = true
		}
	}
	const saves = 16
	durs := []Durability{Sync, NoSync, Async}
	var wg sync.WaitGroup
	for w, d := range durs {
		wg.Go(func() {
			thread := fmt.Sprintf("w%d", w)
			wctx := WithWriteOptions(ctx, WriteOptions{Durability: d})
			for n := range saves {
				tag := fmt.Sprintf("%s/%d", thread, n)
				_, err := s.Save(wctx, thread, map[string]any{"n": n, "tag": tag}, Metadata{"tag": tag})
				note(tag, thread, d == Async, err)
			}
		})
	}
	wg.Go(func() { // Async with IfHead: every odd Save names a stale parent
		thread := "cas"
		var ids []string
		for n := range saves {
			tag := fmt.Sprintf("%s/%d", thread, n)
			parent := ""
			if len(ids) > 0 {
				parent = ids[len(ids)-1]
				if n%2 == 1 && len(ids) > 1 {
					parent = ids[0] // stale: ErrConflict in the loop
				}
			}
			wctx := WithWriteOptions(ctx, WriteOptions{Durability: Async, IfHead: true, Parent: parent})
			id, err := s.Save(wctx, thread, map[string]any{"n": n, "tag": tag}, Metadata{"tag": tag})
			note(tag, thread, true, err)
			if err == nil && (n%2 == 0 || len(ids) <= 1) {
				ids = append(ids, id)
			}
			if n%4 == 3 {
				_ = s.Flush(ctx) // its error is the async failures', counted by the callback
			}
		}
	})
	wg.Wait()
	_ = s.Flush(ctx)
	check := func(r *Store, when string) {
		t.Helper()
		seen := map[string]bool{}
		for _, thread := range []string{"w0", "w1", "w2", "cas"} {
			for tp, err := range r.List(ctx, ListOptions{ThreadID: thread}) {
				if err != nil {
					t.Fatalf("%s: list %s: %v", when, thread, err)
				}
				var tag string
				if err := tp.Decode("tag", &tag); err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				if fmt.Sprint(tp.Metadata["tag"]) != tag {
					t.Errorf("%s: checkpoint %s holds tag %q, metadata %v", when, tp.Config.CheckpointID, tag, tp.Metadata)
				}
				if o, okTag := ok[tag]; okTag && o.thread != thread {
					t.Errorf("%s: write %s is in thread %s", when, tag, thread)
				}
				seen[tag] = true
			}
		}
		missingAsync := int64(0)
		for tag, o := range ok {
			switch {
			case seen[tag]:
			case o.async:
				missingAsync++
			default:
				t.Errorf("%s: acknowledged write %s is missing", when, tag)
			}
		}
		for tag := range failed {
			if seen[tag] {
				t.Errorf("%s: write %s returned an error, yet it is there", when, tag)
			}
		}
		// Before Close, a Flush on a failed store returns ErrFailed without
		// waiting for the ops still queued, which fail (and are reported)
		// after it: fewer may be reported yet, never more. Close waits for
		// the loop and the callback, so after it the counts are equal.
		if got := reported.Load(); missingAsync != got && (when != "before close" || got > missingAsync) {
			t.Errorf("%s: %d async writes that returned nil are missing, %d async failures were reported", when, missingAsync, got)
		}
	}
	check(s, "before close")
	var crashed string
	if !noWAL {
		crashed = crashCopy(t, s)
	}
	_ = s.Close() // its error: the async failures not taken yet, or the failed state
	for _, p := range []string{crashed, path} {
		if p == "" {
			continue
		}
		r, err := Open(p, Options{NoWAL: noWAL})
		if err != nil {
			t.Fatal(err)
		}
		check(r, "reopened "+filepath.Base(p))
		_ = r.Close()
	}
	t.Logf("%d calls failed, %d async failures reported, %d returned nil", len(failed), reported.Load(), len(ok))
	if len(failed) == 0 && reported.Load() == 0 {
		t.Errorf("nothing failed (failure at call %d of %d)", failAt, calls.Load())
	}
}
