package ckpt_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// A compare-and-set Save (IfHead) whose WriteOptions.Parent is not in the
// thread (never written, or deleted with the thread) is ErrNotFound, as a
// Save without IfHead and a compare-and-set Put: it said ErrConflict ("the
// head moved, read and retry"), on a thread that no longer has that
// checkpoint, or none at all.
func TestH123SaveIfHeadMissingParentIsNotFound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	first, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"a": 2}, nil); err != nil {
		t.Fatal(err)
	}
	unknown := "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	cas := func(parent string) context.Context {
		return ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true, Parent: parent})
	}
	if _, err := s.Save(cas(unknown), "t", map[string]any{"a": 3}, nil); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("compare-and-set Save with a parent never written: %v, want ErrNotFound", err)
	}
	if _, err := s.Save(cas(first), "t", map[string]any{"a": 3}, nil); !errors.Is(err, ckpt.ErrConflict) {
		t.Errorf("compare-and-set Save with a parent that is not the head: %v, want ErrConflict", err)
	}
	if err := s.DeleteThread(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(cas(first), "t", map[string]any{"a": 3}, nil); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("compare-and-set Save on a deleted thread's checkpoint: %v, want ErrNotFound", err)
	}
	if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"}); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("GetTuple after the refused saves: %v, want ErrNotFound", err)
	}
}
