package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// TestH242ListIDsBesideWritersAndGC: ListIDs walks a history of more than
// one of its pages (a view each) while Sync and Async writers add to the
// thread and GC removes the old checkpoints of one namespace. Each walk
// yields every checkpoint of namespace "" acknowledged (Sync) or flushed
// (Async) before it began, newest first with no id twice, and every id it
// yields reads with GetTuple afterwards, but for one of namespace "gc",
// which GC may have removed since (ErrNotFound). No other test runs
// ListIDs beside writers, nor across a page while the history changes.
func TestH242ListIDsBesideWritersAndGC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const keep = 400 // GC's KeepLast: namespace "" stays under it
	var mu sync.Mutex
	acked := map[string]bool{} // namespace "" ids, acknowledged and durable
	note := func(id string) {
		mu.Lock()
		acked[id] = true
		mu.Unlock()
	}
	for i := range 100 {
		id, err := s.Save(ctx, "t", map[string]any{"i": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		note(id)
	}
	gcNS := Config{ThreadID: "t", CheckpointNS: "gc"}
	for range listIDsPage + keep {
		if _, err := s.Put(ctx, gcNS, Checkpoint{}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Go(func() { // Sync writer
		for i := 0; !stop.Load() && i < 120; i++ {
			id, err := s.Save(WithWriteOptions(ctx, WriteOptions{Durability: Sync}), "t", map[string]any{"s": i}, nil)
			if err != nil {
				errs <- err
				return
			}
			note(id)
		}
	})
	wg.Go(func() { // Async writer: its ids count once a Flush vouched for them
		var ids []string
		actx := WithWriteOptions(ctx, WriteOptions{Durability: Async})
		for i := 0; !stop.Load() && i < 120; i++ {
			id, err := s.Save(actx, "t", map[string]any{"a": i}, nil)
			if err != nil {
				errs <- err
				return
			}
			ids = append(ids, id)
			if i%10 == 9 {
				if err := s.Flush(ctx); err != nil {
					errs <- err
					return
				}
				for _, id := range ids {
					note(id)
				}
				ids = ids[:0]
			}
		}
	})
	wg.Go(func() { // GC, and new checkpoints in "gc" for it to remove
		for i := 0; !stop.Load() && i < 40; i++ {
			for range 20 {
				if _, err := s.Put(ctx, gcNS, Checkpoint{}, nil, nil); err != nil {
					errs <- err
					return
				}
			}
			if _, err := s.GC(ctx, Policy{KeepLast: keep}); err != nil {
				errs <- err
				return
			}
		}
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// Walks while the others run (a bounded number), at least a few.
	lo, hi := raceRounds(t, 12, 4), raceRounds(t, 400, 100)
	r := 0
	for ; r < hi; r++ {
		if r >= lo {
			select {
			case <-done:
				r = hi
				continue
			default:
			}
		}
		mu.Lock()
		want := make([]string, 0, len(acked))
		for id := range acked {
			want = append(want, id)
		}
		mu.Unlock()
		seen := map[string]bool{}
		var got []Config
		for c, err := range s.ListIDs(ctx, ListOptions{ThreadID: "t"}) {
			if err != nil {
				t.Fatalf("round %d: ListIDs: %v", r, err)
			}
			key := c.CheckpointNS + "/" + c.CheckpointID
			if seen[key] {
				t.Fatalf("round %d: ListIDs yields %s twice", r, key)
			}
			if n := len(got); n > 0 && got[n-1].CheckpointID < c.CheckpointID {
				t.Fatalf("round %d: ListIDs yields %s after %s: not newest first", r, c.CheckpointID, got[n-1].CheckpointID)
			}
			seen[key] = true
			got = append(got, c)
		}
		for _, id := range want {
			if !seen["/"+id] {
				t.Fatalf("round %d: acknowledged checkpoint %s is not among the %d ids ListIDs yields", r, id, len(got))
			}
		}
		for _, c := range got {
			_, err := s.GetTuple(ctx, c)
			if err != nil && !(c.CheckpointNS == "gc" && errors.Is(err, ErrNotFound)) {
				t.Fatalf("round %d: GetTuple of %s, yielded by ListIDs: %v", r, fmt.Sprint(c), err)
			}
		}
	}
	stop.Store(true)
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
