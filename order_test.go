package ckpt

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestRacingSavesStayOrdered widens the gap between taking an id and
// queueing the write: ids must still follow commit order, or a thread's
// newest checkpoint would not be its last one.
func TestRacingSavesStayOrdered(t *testing.T) {
	t.Parallel()
	widen := func() { time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond) }
	s, err := Open(filepath.Join(t.TempDir(), "o.db"), Options{tuning: &tuning{hooks: engine.Hooks{BeforeSend: widen}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 10 {
				if _, err := s.Save(ctx, "t", map[string]any{"w": w, "i": i}, nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var prev *Snapshot
	n := 0
	for snap, err := range s.History(ctx, "t", ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil && prev.ParentID != snap.CheckpointID {
			t.Fatalf("checkpoint %s has parent %s, but the next older is %s", prev.CheckpointID, prev.ParentID, snap.CheckpointID)
		}
		prev = snap
		n++
	}
	if n != 60 {
		t.Fatalf("%d checkpoints", n)
	}
}
