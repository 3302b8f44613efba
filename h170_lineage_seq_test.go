package ckpt

// Helper 170's hunt, the parts of the file under no checksum: the
// sequence of a thread's ls/ bucket (bbolt keeps it in the bucket's
// header, the value of the bucket's key in its parent's page) numbers the
// lineages of list segments (delta_store.go). A flipped byte that lowers
// it hands out a lineage number already in use: the next list stored as a
// keyframe writes its segments under the keys of an older checkpoint's
// list, with valid sums, and that checkpoint then reads the new items.

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestLoweredLineageSequenceWritesOverNoList(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	put := func(s *Store, parent Config, v string, msgs []string) (Config, error) {
		return s.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"messages": msgs}, ChannelVersions: map[string]string{"messages": v}}, nil, map[string]string{"messages": v})
	}
	want := map[string][]string{}
	c1, err := put(s, Config{ThreadID: "t"}, "1", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want[c1.CheckpointID] = []string{"a", "b"}
	c2, err := put(s, c1, "2", []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	want[c2.CheckpointID] = []string{"a", "b", "c"}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The sequence lowered to 0, as a flipped byte of the bucket header
	// lowers it.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		ls := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketSegments)
		if ls.Sequence() == 0 {
			t.Fatal("the list was not stored as a lineage")
		}
		return ls.SetSequence(0)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err = Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() {
		t.Errorf("Verify of a file whose ls/ sequence is below its lineages: OK")
	}
	// A list that is no append of its base: a keyframe, a new lineage.
	c3, err := put(s, c2, "3", []string{"x", "y"})
	switch {
	case errors.Is(err, ErrCorrupt):
	case err != nil:
		t.Fatalf("Put: %v, want nil or ErrCorrupt", err)
	default:
		want[c3.CheckpointID] = []string{"x", "y"}
	}
	for id, w := range want {
		tp, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: id})
		if err != nil {
			t.Errorf("checkpoint %s after the Put: %v, want %q (the Put must not spread the damage)", id, err, w)
			continue
		}
		var got []string
		if err := tp.Decode("messages", &got); err != nil || !reflect.DeepEqual(got, w) {
			t.Errorf("checkpoint %s reads %q (%v), want %q", id, got, err, w)
		}
	}
}
