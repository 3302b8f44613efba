package ckpt

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// review25Store opens a fresh store for a review case.
func review25Store(t *testing.T, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "review.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

// review25Intact fails the test unless the checkpoint reads back with want
// pending writes and Verify and Export find nothing wrong.
func review25Intact(t *testing.T, s *Store, what, thread, id string, want int) {
	t.Helper()
	ctx := context.Background()
	tp, err := s.GetTuple(ctx, Config{ThreadID: thread, CheckpointID: id})
	if err != nil {
		t.Fatalf("%s: GetTuple: %v", what, err)
	}
	if len(tp.PendingWrites) != want {
		t.Fatalf("%s: %d pending writes, want %d", what, len(tp.PendingWrites), want)
	}
	for name, err := range readsOfCheckpoint(t, s, thread, id, false) {
		if err != nil {
			t.Errorf("%s: %s: %v", what, name, err)
		}
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %v %v", what, rep.Problems, err)
	}
}

// review25Root opens a fresh store holding one root checkpoint of thread
// "t" and returns its config.
func review25Root(t *testing.T) (*Store, Config) {
	t.Helper()
	s, _ := review25Store(t, Options{Durability: NoSync})
	root, err := s.Put(context.Background(), Config{ThreadID: "t"}, Checkpoint{ChannelValues: map[string]any{"x": 1}, ChannelVersions: map[string]string{"x": "1"}}, nil, map[string]string{"x": "1"})
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

// A Put of a checkpoint id already stored (LangGraph's savers overwrite:
// INSERT OR REPLACE) rewrites the checkpoint and keeps its pending writes;
// it must keep their tally too.
func TestReview25PutAgainKeepsTally(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, root := review25Root(t)
	cp := Checkpoint{ID: "01KBT000000000000000000001", ChannelValues: map[string]any{"x": 2}, ChannelVersions: map[string]string{"x": "2"}}
	child, err := s.Put(ctx, root, cp, nil, map[string]string{"x": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, child, []Write{{Channel: "x", Value: 3}, {Channel: "y", Value: 4}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	review25Intact(t, s, "before the Put again", "t", child.CheckpointID, 2)
	if _, err := s.Put(ctx, root, cp, nil, map[string]string{"x": "2"}); err != nil {
		t.Fatal(err)
	}
	review25Intact(t, s, "after the Put again", "t", child.CheckpointID, 2)
}

// A PutFull retried with the same checkpoint id (its first call's result
// was lost: a deadline, a dropped connection) stores nothing new: every
// write is kept by "first wins". Its checkpoint must read back as after
// the first call.
func TestReview25PutFullRetriedKeepsTally(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, root := review25Root(t)
	cp := Checkpoint{ID: "01KBT000000000000000000002", ChannelValues: map[string]any{"x": 2}, ChannelVersions: map[string]string{"x": "2"}}
	tw := []TaskWrites{{TaskID: "a", Writes: []Write{{Channel: "x", Value: 3}}}, {TaskID: "b", Writes: []Write{{Channel: ChannelError, Value: "e"}}}}
	var full Config
	for try := range 2 {
		var err error
		if full, err = s.PutFull(ctx, root, cp, nil, map[string]string{"x": "2"}, tw); err != nil {
			t.Fatalf("try %d: %v", try, err)
		}
	}
	review25Intact(t, s, "after the retried PutFull", "t", full.CheckpointID, 2)
}

// A special write (ChannelError, ...) replaces the one stored under the
// same key, so the file once held another valid record under that key: a
// leaf of wr/ read back as it was before the replace (a branch page id
// pointing at the freed older copy of the page, here its value put back by
// bbolt) has the same keys, each record's sum checks, and the tally, which
// counts keys only, agrees. The read must not hand back the replaced
// value as the pending write with no error.
func TestReview25ReplacedSpecialWriteRestored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := review25Store(t, Options{Durability: NoSync})
	id, err := s.Save(ctx, "t", map[string]any{"x": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ThreadID: "t", CheckpointID: id}
	stored := func() (k, v []byte) {
		err := s.view(ctx, func(r reader) error {
			return r.Scan(threadPath("t", bucketWrites), nil, nil, false, func(kk, vv []byte) error {
				k, v = bytes.Clone(kk), bytes.Clone(vv)
				return errStop
			})
		})
		if err != nil || k == nil {
			t.Fatalf("no stored write: %v", err)
		}
		return k, v
	}
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: ChannelError, Value: "first failure"}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	k, old := stored()
	if err := s.PutWrites(ctx, cfg, []Write{{Channel: ChannelError, Value: "second failure"}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	if _, v := stored(); bytes.Equal(v, old) {
		t.Fatal("the special write was not replaced")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketWrites).Put(k, old)
	})
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	tp, err := ro.GetTuple(ctx, cfg)
	if err == nil && len(tp.PendingWrites) == 1 {
		var got string
		if derr := tp.PendingWrites[0].Value.Decode(&got); derr == nil && got != "second failure" {
			t.Errorf("GetTuple: pending write %q with no error; the write stored last was %q", got, "second failure")
		}
	}
}
