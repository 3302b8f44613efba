package ckpt_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt"
)

func TestIfHeadPutFailsWithErrConflictAndWritesNothing(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	cas := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
	root, err := s.Put(cas, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A second "first" checkpoint would fork the thread.
	if _, err := s.Put(cas, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{}, nil, nil); !errors.Is(err, ckpt.ErrConflict) {
		t.Fatalf("second root: %v, want ErrConflict", err)
	}
	a, err := s.Put(cas, root, ckpt.Checkpoint{}, ckpt.Metadata{"by": "a"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Worker b still thinks root is the head.
	if _, err := s.Put(cas, root, ckpt.Checkpoint{}, ckpt.Metadata{"by": "b"}, nil); !errors.Is(err, ckpt.ErrConflict) {
		t.Fatalf("stale parent: %v, want ErrConflict", err)
	}
	n := 0
	for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatal(err)
		}
		if tp.Metadata["by"] == "b" {
			t.Fatal("conflicting put was written")
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d checkpoints, want 2", n)
	}
	// Without IfHead, forking from an older checkpoint is allowed (LangGraph's update_state).
	if _, err := s.Put(ctx, root, ckpt.Checkpoint{}, nil, nil); err != nil {
		t.Fatalf("plain fork: %v", err)
	}
	// Another namespace has its own head.
	if _, err := s.Put(cas, ckpt.Config{ThreadID: "t", CheckpointNS: "sub"}, ckpt.Checkpoint{}, nil, nil); err != nil {
		t.Fatalf("first checkpoint of another namespace: %v", err)
	}
	_ = a
}

func TestIfHeadRaceHasExactlyOneWinnerPerRound(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	cas := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
	head, err := s.Put(cas, ckpt.Config{ThreadID: "race"}, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		var wins, conflicts atomic.Int32
		var winner ckpt.Config
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				c, err := s.Put(cas, head, ckpt.Checkpoint{}, nil, nil)
				switch {
				case err == nil:
					wins.Add(1)
					mu.Lock()
					winner = c
					mu.Unlock()
				case errors.Is(err, ckpt.ErrConflict):
					conflicts.Add(1)
				default:
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != 7 {
			t.Fatalf("round %d: %d wins, %d conflicts", round, wins.Load(), conflicts.Load())
		}
		head = winner
	}
}

func TestIfHeadSave(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	first, err := s.Save(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true}), "t", map[string]any{"n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true, Parent: first}), "t", map[string]any{"n": 2}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = s.Save(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true, Parent: first}), "t", map[string]any{"n": 3}, nil)
	if !errors.Is(err, ckpt.ErrConflict) {
		t.Fatalf("stale Save: %v, want ErrConflict", err)
	}
	snap, err := s.Latest(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := snap.Decode("n", &n); err != nil || n != 2 {
		t.Fatalf("n = %d (%v): conflicting save was written", n, err)
	}
}
