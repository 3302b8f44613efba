package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// A thread given many keys and deleted before bbolt took them: the applier
// (or Close) replays both in one bbolt transaction, whose deletion walks
// the thread's buckets counting their keys against what the file can hold
// (dropNested: a page cycle goes round for ever). The keys written in
// that same transaction are not in the file yet, and a young file is
// small: 5,000 pending writes of a thread deleted at once made the count
// pass the file's bound, and the store failed ("a bucket yields more keys
// than its file can hold: a cycle of pages", ErrCorrupt) on a sound file.
func TestDeletingAThreadOfManyKeysInOneBatchIsNotCorrupt(t *testing.T) {
	ctx := context.Background()
	t.Parallel()
	for _, n := range []int{5000, 20000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "d.db")
			tune := &tuning{}
			tune.hooks.HoldApplier = true // both groups go to bbolt in one transaction, at Close
			s, err := Open(path, Options{tuning: tune})
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := s.Put(ctx, Config{ThreadID: "big"}, Checkpoint{ChannelValues: map[string]any{"n": 1}}, Metadata{"step": 1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			writes := make([]Write, n)
			for i := range writes {
				writes[i] = Write{Channel: "c", Value: i}
			}
			if err := s.PutWrites(ctx, cfg, writes, "task", ""); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteThread(ctx, "big"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(ctx, "other", map[string]any{"n": 2}, Metadata{"step": 1}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close (bbolt takes the groups): %v", err)
			}
			s, err = Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.GetTuple(ctx, Config{ThreadID: "big"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("the deleted thread: %v, want ErrNotFound", err)
			}
			if _, err := s.GetTuple(ctx, Config{ThreadID: "other"}); err != nil {
				t.Errorf("the other thread: %v", err)
			}
			vr, err := s.Verify(ctx, VerifyOptions{})
			if err != nil || len(vr.Problems) > 0 {
				t.Errorf("Verify: %+v, %v", vr, err)
			}
		})
	}
}
