package ckpt_test

// Defects the h121 differential hunt against LangGraph.js's savers
// (internal/difftest) found, each as its own test.

import (
	"context"
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// LangGraph's put receives new_versions as the changed entries of the
// checkpoint's channel_versions, so both name the same version of a
// channel. A Put where they disagreed was acknowledged and stored the
// value under newVersions' version while the checkpoint named the other:
// every read of it was then ErrCorrupt ("no value stored"), a damaged
// file where nothing was damaged (MemorySaver and SqliteSaver return the
// value). It is refused before anything is written.
func TestH121PutNewVersionsDisagreeingWithChannelVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	_, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{
		ChannelValues:   map[string]any{"a": 1},
		ChannelVersions: map[string]string{"a": "3"},
	}, nil, map[string]string{"a": "2"})
	if !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("Put: %v, want ErrInvalidConfig", err)
	}
	if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"}); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("GetTuple after the Put: %v, want ErrNotFound (nothing stored)", err)
	}
	for _, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Errorf("List after the Put: %v", err)
		}
	}
}

// A checkpoint cannot be its own parent. LangGraph's savers store a put
// whose config names the checkpoint's own id as parent (they never walk
// parents); here it was acknowledged too, and then History called the
// undamaged file corrupt ("checkpoint ... is its own ancestor") and
// Branches silently lost the thread's only tip. It is refused before
// anything is written.
func TestH121PutOwnParentIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	first, err := s.Put(ctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{}, ckpt.Metadata{"step": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(ctx, first, ckpt.Checkpoint{ID: first.CheckpointID}, ckpt.Metadata{"step": 2}, nil)
	if !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("Put with its own id as parent: %v, want ErrInvalidConfig", err)
	}
	n := 0
	for snap, err := range s.History(ctx, "t", ckpt.ListOptions{}) {
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if snap.Metadata["step"] != int64(1) {
			t.Errorf("History yields metadata %v, want the first put's", snap.Metadata)
		}
		n++
	}
	if n != 1 {
		t.Errorf("History yielded %d checkpoints, want 1", n)
	}
	if bs, err := s.Branches(ctx, "t"); err != nil || len(bs) != 1 {
		t.Errorf("Branches: %d, %v; want the one tip", len(bs), err)
	}
}

// A Put of a stored checkpoint again under another parent may not make it
// its own ancestor (a put again of A under B, B a child of A). LangGraph's
// savers store such a put (SqliteSaver's INSERT OR REPLACE); here it was
// acknowledged too, and then History called the undamaged file corrupt
// and Branches found no tip. It is refused; a put again under the same
// parent, or under one that does not descend from it, is fine.
func TestH121PutAgainMakingACycleIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	put := func(parent ckpt.Config, id string, step int) (ckpt.Config, error) {
		return s.Put(ctx, parent, ckpt.Checkpoint{ID: id}, ckpt.Metadata{"step": step}, nil)
	}
	root := ckpt.Config{ThreadID: "t"}
	a, err := put(root, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := put(a, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := put(b, "", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, parent := range []ckpt.Config{b, c} {
		if _, err := put(parent, a.CheckpointID, 9); !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Errorf("Put of %s again under its descendant %s: %v, want ErrInvalidConfig", a.CheckpointID, parent.CheckpointID, err)
		}
	}
	// Allowed: the same parent again (a retried put), and a parent that
	// does not descend from it.
	if _, err := put(b, c.CheckpointID, 2); err != nil {
		t.Fatalf("retried put: %v", err)
	}
	if _, err := put(a, c.CheckpointID, 2); err != nil {
		t.Fatalf("put again under an ancestor: %v", err)
	}
	n := 0
	for _, err := range s.History(ctx, "t", ckpt.ListOptions{}) {
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		n++
	}
	if n != 2 { // c, a
		t.Errorf("History yielded %d checkpoints, want 2", n)
	}
	if bs, err := s.Branches(ctx, "t"); err != nil || len(bs) != 2 { // b and c
		t.Errorf("Branches: %d, %v; want 2 tips", len(bs), err)
	}
}
