package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// Metrics.GCRuns counts the GC runs that went to remove (not dry runs);
// a call refused before it began (an invalid policy, a read-only store)
// is no run: it counted as one (helper-151's audit), so a dashboard of
// runs went up for calls that did nothing.
func TestGCRunsCountsNoRefusedCall(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.ckpt")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := s.Save(ctx, "t", map[string]any{"v": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GC(ctx, Policy{KeepLast: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("GC with KeepLast -1 = %v, want ErrInvalidConfig", err)
	}
	if n := s.Metrics().GCRuns; n != 0 {
		t.Errorf("GCRuns = %d after a refused GC, want 0", n)
	}
	if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	if n := s.Metrics().GCRuns; n != 1 {
		t.Errorf("GCRuns = %d after one GC run, want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.GC(ctx, Policy{KeepLast: 1}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("GC on a read-only store = %v, want ErrReadOnly", err)
	}
	if n := r.Metrics().GCRuns; n != 0 {
		t.Errorf("GCRuns = %d after a GC refused on a read-only store, want 0", n)
	}
}
