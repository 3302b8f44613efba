package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// TestMetricsCountTheSimpleAPI: Metrics' doc says Save counts as OpPut,
// Load and Latest as OpGet and History as OpList, failed calls included
// and their errors counted by kind. Save was not counted at all (it
// writes through writeOrdered, not Put), so a service using the simple
// API saw no puts and none of their errors.
func TestMetricsCountTheSimpleAPI(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "m.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	id, err := s.Save(ctx, "t", map[string]any{"x": 1}, Metadata{"step": 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "", map[string]any{"x": 1}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Save without a thread: %v, want ErrInvalidConfig", err)
	}
	// A parent that does not exist: ErrNotFound.
	missing := mustID(s.ids.kit.Next(time.Now())).String()
	if _, err := s.Save(WithWriteOptions(ctx, WriteOptions{Parent: missing}), "t", map[string]any{"x": 2}, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Save from a missing parent: %v, want ErrNotFound", err)
	}
	if _, err := s.Load(ctx, "t", id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Latest(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.History(ctx, "t", ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	m := s.Metrics()
	if m.Ops[OpPut] != 3 || m.Ops[OpGet] != 2 || m.Ops[OpList] != 1 {
		t.Fatalf("ops put/get/list = %d/%d/%d, want 3/2/1 (3 Saves, Load and Latest, History)", m.Ops[OpPut], m.Ops[OpGet], m.Ops[OpList])
	}
	if m.Errors[ErrKindOther] != 1 || m.Errors[ErrKindNotFound] != 1 {
		t.Fatalf("errors other/not found = %d/%d, want 1/1", m.Errors[ErrKindOther], m.Errors[ErrKindNotFound])
	}
}
