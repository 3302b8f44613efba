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
