package ckpt_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h222: Import raises the id floor to each checkpoint id it reads, before
// the import is in; an Import that fails is undone (all or nothing) but
// left the floor at the dump's newest id: with the largest ULID, every
// later Save in the process failed with ErrIDsExhausted.
func TestH222RefusedImportOfLargestIDLeavesIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const last = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
	src, err := ckpt.Open(filepath.Join(t.TempDir(), "src.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Put(ctx, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{ID: last, ChannelValues: map[string]any{"n": 0},
		ChannelVersions: map[string]string{"n": "1"}}, nil, map[string]string{"n": "1"}); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = src.Close()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "s.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	bad := append(bytes.Clone(dump.Bytes()), []byte("{not a record\n")...)
	if _, err := s.Import(ctx, bytes.NewReader(bad), ckpt.ImportOptions{}); err == nil {
		t.Fatal("Import of a dump with a bad last line returned nil")
	}
	if _, err := s.Latest(ctx, "t"); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("thread t after the failed Import: %v, want ErrNotFound", err)
	}
	if id, err := s.Save(ctx, "u", map[string]any{"n": 1}, nil); err != nil || id == "" {
		t.Fatalf("Save after a failed Import of %s (nothing stored): %q %v", last, id, err)
	}
	// A whole Import does raise the floor: no id sorts after its newest.
	if _, err := s.Import(ctx, bytes.NewReader(dump.Bytes()), ckpt.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "u", map[string]any{"n": 2}, nil); !errors.Is(err, ckpt.ErrIDsExhausted) {
		t.Fatalf("Save after an Import of %s: %v, want ErrIDsExhausted", last, err)
	}
}
