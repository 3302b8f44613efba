package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Open took any Durability (Durability(99) wrote as Sync, silently) and
// negative bounds on its queue (MaxPending, MaxPendingBytes: taken as the
// defaults), and a write took an unknown per-call Durability the same
// way: a typo or a wrong constant went unseen. Each is ErrInvalidConfig
// now, with nothing created or written.
func TestOpenRefusesOptionsItCannotMean(t *testing.T) {
	t.Parallel()
	for name, o := range map[string]Options{
		"Durability(99)":      {Durability: Durability(99)},
		"Durability(-1)":      {Durability: Durability(-1)},
		"MaxPending -1":       {MaxPending: -1},
		"MaxPendingBytes -64": {MaxPendingBytes: -64},
	} {
		path := filepath.Join(t.TempDir(), "x.db")
		s, err := Open(path, o)
		if err == nil {
			s.Close()
			t.Errorf("%s: Open succeeded, want ErrInvalidConfig", name)
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the refused Open left a file behind (%v)", name, err)
		}
	}
}

func TestWriteRefusesAnUnknownDurability(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "x.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: Durability(7)})
	if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Save with Durability(7): %v, want ErrInvalidConfig", err)
	}
	if _, err := s.Latest(context.Background(), "t"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the refused Save: Latest says %v, want ErrNotFound (nothing written)", err)
	}
}
