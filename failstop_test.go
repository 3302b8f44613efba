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

// saveOutcomes records which tagged saves returned nil and which an error.
type saveOutcomes struct {
	mu     sync.Mutex
	ok     map[string]bool // tag -> acknowledged
	failed map[string]bool
}

func (o *saveOutcomes) note(tag string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		o.ok[tag] = true
	} else {
		o.failed[tag] = true
	}
}

// check reads every thread's history: every acknowledged save is there,
// no failed one is.
func (o *saveOutcomes) check(t *testing.T, s *Store, threads int, when string) {
	t.Helper()
	seen := map[string]bool{}
	for w := range threads {
		for snap, err := range s.History(context.Background(), fmt.Sprintf("w%d", w), ListOptions{}) {
			if err != nil {
				t.Fatalf("%s: history: %v", when, err)
			}
			seen[fmt.Sprint(snap.Metadata["tag"])] = true
		}
	}
	for tag := range o.ok {
		if !seen[tag] {
			t.Errorf("%s: acknowledged save %s is missing", when, tag)
		}
	}
	for tag := range o.failed {
		if seen[tag] {
			t.Errorf("%s: save %s returned an error, yet it is there", when, tag)
		}
	}
}

// A failed log fsync at a random group, with four writers: nothing whose
// call returned an error is ever readable (before Close, after a crash,
// after a reopen), everything acknowledged is, and every write after the
// failure fails with ErrFailed.
func TestFailedFsyncAtRandomGroupsShowsNoFailedWrite(t *testing.T) {
	t.Parallel()
	const writers, saves = 4, 12
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 13))
			failAt := int64(1 + rng.IntN(12))
			var calls atomic.Int64
			syncLog := func(f *os.File) error {
				if calls.Add(1) == failAt {
					return errors.New("disk on fire")
				}
				return engine.Fdatasync(f)
			}
			path := filepath.Join(t.TempDir(), "s.db")
			s := openUnappliedWith(t, path, Options{tuning: &tuning{hooks: engine.Hooks{SyncLog: syncLog}}})
			ctx := context.Background()
			o := &saveOutcomes{ok: map[string]bool{}, failed: map[string]bool{}}
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for n := range saves {
						tag := fmt.Sprintf("%d/%d", w, n)
						_, err := s.Save(ctx, fmt.Sprintf("w%d", w), map[string]any{"n": n}, Metadata{"tag": tag})
						if err != nil && !errors.Is(err, ErrFailed) {
							t.Errorf("save %s: %v, want an error wrapping ErrFailed", tag, err)
						}
						o.note(tag, err)
					}
				})
			}
			wg.Wait()
			if len(o.failed) == 0 {
				t.Fatalf("no save failed (fsync %d of %d failed)", failAt, calls.Load())
			}
			// Every kind of write is refused now, with the cause.
			_, err := s.Save(ctx, "w0", map[string]any{"n": -1}, Metadata{"tag": "after"})
			o.note("after", err)
			for name, err := range map[string]error{
				"Save":         err,
				"Flush":        s.Flush(ctx),
				"DeleteThread": s.DeleteThread(ctx, "w1"),
				"Compact":      func() error { _, err := s.Compact(ctx, nil); return err }(),
				"GC":           func() error { _, err := s.GC(ctx, Policy{KeepLast: 1}); return err }(),
				"Async Save": func() error {
					_, err := s.Save(WithWriteOptions(ctx, WriteOptions{Durability: Async}), "w0", map[string]any{}, Metadata{"tag": "async"})
					return err
				}(),
			} {
				if !errors.Is(err, ErrFailed) {
					t.Errorf("%s after the failure = %v, want ErrFailed", name, err)
				}
			}
			o.check(t, s, writers, "before close")
			crashed := crashCopy(t, s)
			if err := s.Close(); !errors.Is(err, ErrFailed) {
				t.Fatalf("Close of a failed store = %v, want ErrFailed", err)
			}
			for _, p := range []string{crashed, path} {
				r, err := Open(p, Options{})
				if err != nil {
					t.Fatal(err)
				}
				o.check(t, r, writers, "reopened "+filepath.Base(p))
				if _, err := r.Save(ctx, "w0", map[string]any{"n": 99}, Metadata{"tag": "reopened"}); err != nil {
					t.Errorf("a write after reopen: %v", err)
				}
				if err := r.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// A failed bbolt commit in the applier fails the store; the acknowledged
// groups stay readable, Close keeps the log that holds them (bbolt lacks
// them), and a reopen replays them.
func TestFailedApplyFailsStopAndKeepsTheLog(t *testing.T) {
	t.Parallel()
	var fail, hold atomic.Bool
	gate := make(chan struct{})
	var gateOnce sync.Once
	openGate := func() { gateOnce.Do(func() { close(gate) }) }
	t.Cleanup(openGate)
	commitBolt := func(tx *bolt.Tx) error {
		if hold.Load() {
			<-gate
		}
		if fail.Load() {
			_ = tx.Rollback()
			return errors.New("disk full")
		}
		return tx.Commit()
	}
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{CommitBolt: commitBolt}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The applier's bbolt commits wait from the first write until fail is
	// set: the writes are still to apply then, and ApplyLog's commit of
	// them fails. Not held, an applier that ran first (20 ms after the
	// writes pause, or the test goroutine scheduled late on a busy
	// machine) left nothing to apply, and ApplyLog returned nil (shown
	// with a 300 ms sleep before fail.Store).
	hold.Store(true)
	ids := saveN(t, s, "t", 0, 5)
	fail.Store(true)
	openGate()
	if err := s.ApplyLog(ctx); !errors.Is(err, ErrFailed) {
		t.Fatalf("ApplyLog with a failing commit = %v, want ErrFailed", err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"i": 5}, Metadata{"i": 5}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Save after a failed apply = %v, want ErrFailed", err)
	}
	checkLoads(t, s, "t", ids)
	_ = s.Close()
	fail.Store(false)
	if _, err := os.Stat(path + walSuffix); err != nil {
		t.Fatalf("Close of a store whose bbolt failed removed the log: %v", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkLoads(t, s, "t", ids)
}

// Without the log, a failed bbolt commit fails the store the same way.
func TestNoWALFailedCommitFailsStop(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	commitBolt := func(tx *bolt.Tx) error {
		if fail.Swap(false) {
			_ = tx.Rollback()
			return errors.New("disk full")
		}
		return tx.Commit()
	}
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true, tuning: &tuning{hooks: engine.Hooks{CommitBolt: commitBolt}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := saveN(t, s, "t", 0, 3)
	fail.Store(true)
	if _, err := s.Save(ctx, "t", map[string]any{"i": 3}, Metadata{"i": 3}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Save with a failing commit = %v, want ErrFailed", err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"i": 4}, Metadata{"i": 4}); !errors.Is(err, ErrFailed) {
		t.Fatalf("the next Save = %v, want ErrFailed", err)
	}
	if err := s.Close(); !errors.Is(err, ErrFailed) {
		t.Fatalf("Close of the failed store = %v, want ErrFailed", err)
	}
	s, err = Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkLoads(t, s, "t", ids)
	if snap, err := s.Latest(ctx, "t"); err != nil || snap.CheckpointID != ids[2] {
		t.Fatalf("latest after reopen: %v %v, want %s", snap, err, ids[2])
	}
}
