package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

func openTestStore(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "w.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestConcurrentWritersShareCommits: writers that queue while a commit is
// under way share the next one. Left to the scheduler, a fast disk and a
// loaded machine can serve each writer alone (it once saw 320 commits for
// 320 puts), so the commit loop is held by a solo op until every writer
// has sent its first Put: that first round is one group whatever the
// timing, and the count can only fail if the loop stops grouping.
func TestConcurrentWritersShareCommits(t *testing.T) {
	t.Parallel()
	const writers, each = 16, 20
	var armed atomic.Bool
	var sent atomic.Int32
	allSent := make(chan struct{})
	hooks := engine.Hooks{BeforeSend: func() {
		if armed.Load() && sent.Add(1) == writers {
			close(allSent)
		}
	}}
	s := openTestStore(t, Options{tuning: &tuning{hooks: hooks}})
	held := make(chan error, 1)
	if err := s.eng.Send(context.Background(), &engine.Op{Ctx: context.Background(), Solo: func() error {
		<-allSent
		return nil
	}, Done: held}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			parent := Config{ThreadID: fmt.Sprintf("w%d", w)}
			for range each {
				c, err := s.Put(context.Background(), parent, Checkpoint{}, nil, nil)
				if err != nil {
					t.Error(err)
					return
				}
				parent = c
			}
		})
	}
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if got := s.eng.Commits(); got >= writers*each {
		t.Fatalf("%d commits for %d puts: no grouping", got, writers*each)
	} else {
		t.Logf("%d puts in %d commits", writers*each, got)
	}
}

func TestAsyncFailureIsReportedByFlushCallbackAndClose(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	s := openTestStore(t, Options{Durability: Async, OnAsyncError: func(err error) {
		if errors.Is(err, ErrNotFound) {
			seen.Add(1)
		}
	}})
	ctx := context.Background()
	good, err := s.Put(ctx, Config{ThreadID: "a"}, Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Acknowledged at once, fails in the loop: its parent does not exist.
	missing := Config{ThreadID: "a", CheckpointID: "01ARZ3NDEKTSV4RRFFQ69G5FAV"}
	if _, err := s.Put(ctx, missing, Checkpoint{}, nil, nil); err != nil {
		t.Fatalf("async put returned %v before it was applied", err)
	}
	if err := s.Flush(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Flush = %v, want the async ErrNotFound", err)
	}
	if seen.Load() != 1 {
		t.Fatalf("callback saw %d failures", seen.Load())
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("second Flush reports again: %v", err)
	}
	if _, err := s.GetTuple(ctx, good); err != nil {
		t.Fatalf("good async write lost: %v", err)
	}
	if err := s.PutWrites(ctx, missing, []Write{{Channel: "x", Value: 1}}, "t", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Close = %v, want the unreported async failure", err)
	}
}

func TestAsyncQueueIsBounded(t *testing.T) {
	t.Parallel()
	for _, noWAL := range []bool{false, true} {
		t.Run(fmt.Sprintf("noWAL=%v", noWAL), func(t *testing.T) { testAsyncQueueIsBounded(t, noWAL) })
	}
}

func testAsyncQueueIsBounded(t *testing.T, noWAL bool) {
	s := openTestStore(t, Options{Durability: Async, MaxPending: 4, NoWAL: noWAL})
	ctx := context.Background()
	// Stall the commit loop in a solo op (engine.Solo) until released:
	// what is queued behind it waits, in both modes.
	stalled, released := make(chan struct{}), make(chan struct{})
	soloDone := make(chan error, 1)
	go func() {
		soloDone <- s.eng.Solo(ctx, func() error {
			close(stalled)
			<-released
			return nil
		})
	}()
	<-stalled
	var releaseOnce sync.Once
	release := func() {
		releaseOnce.Do(func() {
			close(released)
			if err := <-soloDone; err != nil {
				t.Error(err)
			}
		})
	}
	defer release() // a failed check must not leave Close waiting
	accepted := 0
	for i := range 20 {
		// The puts the queue has room for are given a minute (a bound,
		// not a measure: 200 ms for each let a put descheduled on a
		// loaded machine read as a full queue); past them, a put can only
		// time out, and 200 ms says so soon.
		wait := 200 * time.Millisecond
		if i < 4 {
			wait = time.Minute
		}
		tctx, cancel := context.WithTimeout(ctx, wait)
		_, err := s.Put(tctx, Config{ThreadID: fmt.Sprint("q", i)}, Checkpoint{}, nil, nil)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	// The loop, busy with the solo op, holds none: the queue takes
	// MaxPending, no more.
	if accepted == 20 {
		t.Fatal("the queue never filled: async writes are unbounded")
	}
	if accepted != 4 {
		t.Fatalf("accepted %d async puts while the loop was stalled, want MaxPending (4)", accepted)
	}
	release()
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != accepted {
		t.Fatalf("%d stored, %d acknowledged", n, accepted)
	}
}

func TestNoSyncWritesAreSyncedByFlushAndClose(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "n.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	// The engine's own test (TestNoSyncGroupIsSyncedByFlush) checks that
	// the record waits for Flush's fsync; here, what a reopen finds.
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"a": 2}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Latest(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var a int
	if err := snap.Decode("a", &a); err != nil || a != 2 {
		t.Fatalf("a = %d, %v", a, err)
	}
}

func TestPerCallDurabilityOverride(t *testing.T) {
	t.Parallel()
	s := openTestStore(t, Options{Durability: Async})
	ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: Sync})
	missing := Config{ThreadID: "a", CheckpointID: "01ARZ3NDEKTSV4RRFFQ69G5FAV"}
	// Sync for this call: the failure comes back to the caller, not to Flush.
	if _, err := s.Put(ctx, missing, Checkpoint{}, nil, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("sync override: %v", err)
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestPutFullEqualsPutThenPutWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := openTestStore(t, Options{})
	b := openTestStore(t, Options{})
	cp := Checkpoint{ID: "01JABCDEFGHJKMNPQRSTVWXYZ0", TS: time.Unix(100, 0), ChannelValues: map[string]any{"m": []any{"x"}}, ChannelVersions: map[string]string{"m": "1"}}
	meta := Metadata{"step": 1}
	tasks := []TaskWrites{
		{TaskID: "t2", TaskPath: "p", Writes: []Write{{Channel: "m", Value: "y"}, {Channel: ChannelError, Value: "e"}}},
		{TaskID: "t1", TaskPath: "p", Writes: []Write{{Channel: "n", Value: 2}}},
	}
	cfgA, err := a.PutFull(ctx, Config{ThreadID: "t"}, cp, meta, map[string]string{"m": "1"}, tasks)
	if err != nil {
		t.Fatal(err)
	}
	cfgB, err := b.Put(ctx, Config{ThreadID: "t"}, cp, meta, map[string]string{"m": "1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tw := range tasks {
		if err := b.PutWrites(ctx, cfgB, tw.Writes, tw.TaskID, tw.TaskPath); err != nil {
			t.Fatal(err)
		}
	}
	ta, err := a.GetTuple(ctx, cfgA)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.GetTuple(ctx, cfgB)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ta, tb) {
		t.Fatalf("PutFull stored\n%+v\nPut+PutWrites stored\n%+v", ta, tb)
	}
	// A bad write in PutFull rejects the whole step.
	bad := []TaskWrites{{TaskID: "t", Writes: []Write{{Channel: "x", Value: func() {}}}}}
	if _, err := a.PutFull(ctx, cfgA, Checkpoint{}, nil, nil, bad); !errors.Is(err, ErrEncode) {
		t.Fatalf("bad write: %v", err)
	}
	if latest, _ := a.GetTuple(ctx, Config{ThreadID: "t"}); latest.Config != cfgA {
		t.Fatalf("rejected PutFull wrote a checkpoint")
	}
}
