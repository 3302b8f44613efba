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
