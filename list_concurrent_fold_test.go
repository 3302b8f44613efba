package ckpt

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
)

// TestListWhileFolding: while a writer appends to one list (K=2: a fold,
// deleting and rewriting segments, at every other step) and now and then
// forks, readers List the thread (pages that reuse segments across
// tuples) and read by id: every tuple read holds exactly what its Put
// saved.
func TestListWhileFolding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestStore(t, Options{DeltaFold: 2})
	var mu sync.Mutex
	saved := map[string][]string{}
	lookup := func(id string) ([]string, bool) {
		mu.Lock()
		defer mu.Unlock()
		l, ok := saved[id]
		return l, ok
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	check := func(how string, tp *Tuple) bool {
		want, ok := lookup(tp.Config.CheckpointID)
		if !ok {
			return true // its Put has not returned yet
		}
		var got []string
		if err := tp.Decode("m", &got); err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: checkpoint %s reads %d items (%v), saved %d", how, tp.Config.CheckpointID, len(got), err, len(want))
			return false
		}
		return true
	}
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for tp, err := range s.List(ctx, ListOptions{ThreadID: "t", Namespace: NS("")}) {
					if err != nil {
						t.Error(err)
						return
					}
					if !check("List", tp) {
						return
					}
					by, err := s.GetTuple(ctx, tp.Config)
					if err != nil {
						t.Error(err)
						return
					}
					if !check("GetTuple", by) {
						return
					}
				}
			}
		})
	}
	parent, msgs := Config{ThreadID: "t"}, []string(nil)
	var hist []Config
	var lists [][]string
	for step := range 300 {
		if step%37 == 36 { // a fork: a new lineage from an older list
			i := step / 2
			parent, msgs = hist[i], lists[i]
		}
		msgs = append(slices.Clone(msgs), fmt.Sprint("item ", step))
		v := fmt.Sprint(step)
		c, err := s.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"m": msgs}, ChannelVersions: map[string]string{"m": v}}, nil, map[string]string{"m": v})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		saved[c.CheckpointID] = msgs
		mu.Unlock()
		parent = c
		hist, lists = append(hist, c), append(lists, msgs)
	}
	close(done)
	wg.Wait()
}
