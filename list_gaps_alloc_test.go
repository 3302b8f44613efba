package ckpt

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// TestThreadsIndexedCheckAllocatesNothingPerThread: the check a List of
// every thread ends with (checkThreadsIndexed: each stored thread's newest
// checkpoint is in the index) looks at every thread of the store, so what
// it allocates must not grow with them. On main it made 4 allocations a
// thread (the path of the thread's history order, the scan's callback,
// the index key, a copy of the name): a filtered List over 20,000
// threads of one checkpoint made 558,000 allocations, 478,000 without the
// check.
func TestThreadsIndexedCheckAllocatesNothingPerThread(t *testing.T) {
	if raceBuild {
		t.Skip("allocations are counted without the race detector")
	}
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "a.db"), Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkAllocs := func() float64 {
		var allocs float64
		err := s.view(ctx, func(r reader) error {
			tr := s.newTupleReader(r)
			defer tr.release()
			if err := tr.checkThreadsIndexed(); err != nil { // warm: the view opens its buckets
				return err
			}
			allocs = testing.AllocsPerRun(20, func() {
				if err := tr.checkThreadsIndexed(); err != nil {
					t.Fatal(err)
				}
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return allocs
	}
	save := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := s.Save(ctx, fmt.Sprintf("thread-%03d", i), map[string]any{"x": i}, Metadata{"sub": i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	save(0, 10)
	// Applied: the read is bbolt's (an overlay's view caches a
	// bucket's state on its first read, which is the overlay's cost).
	apply := func() {
		if err := s.ApplyLog(ctx); err != nil {
			t.Fatal(err)
		}
	}
	apply()
	few := checkAllocs()
	save(10, 60)
	apply()
	if many := checkAllocs(); many > few {
		t.Errorf("the check allocates %.0f times over 60 threads, %.0f over 10: %.1f a thread", many, few, (many-few)/50)
	}
}
