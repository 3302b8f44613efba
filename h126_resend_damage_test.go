package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A put sent again (the same checkpoint, record and metadata: a caller
// that lost the reply) after its parent was removed succeeds, as on
// Redis. Its checkpoint names a version its parent wrote ("b" at "1"),
// whose value damage hid since (a flipped byte in its key): reads of the
// checkpoint say ErrCorrupt. The put sent again must leave that so: it
// stored "no value" under the version, the damage read from then on as a
// channel never written, its value lost without a word.
func TestH126PutSentAgainDoesNotCoverAValueDamageHid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "resend.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.Put(ctx, Config{ThreadID: "t"},
		Checkpoint{ChannelValues: map[string]any{"b": "shared"}, ChannelVersions: map[string]string{"b": "1"}},
		Metadata{"run_id": "first"}, map[string]string{"b": "1"})
	if err != nil {
		t.Fatal(err)
	}
	cp := Checkpoint{ID: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ", TS: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ChannelValues: map[string]any{"b": "shared", "c": 2},
		ChannelVersions: map[string]string{"b": "1", "c": "1"}}
	put := func() (Config, error) {
		return s.Put(ctx, root, cp, Metadata{"step": 1}, map[string]string{"c": "1"})
	}
	child, err := put()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteForRuns(ctx, []string{"first"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	deleteBlob(t, path, "t", "", "b", "1")
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetTuple(ctx, child); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read with its value gone: %v, want ErrCorrupt", err)
	}
	if c, err := put(); err != nil || c != child {
		t.Fatalf("sent again: %+v, %v; want %+v, nil (it is stored)", c, err, child)
	}
	if tp, err := s.GetTuple(ctx, child); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read after the put sent again: %v (values %v), want ErrCorrupt still", err, tp.Checkpoint.ChannelValues)
	}
}

// The resend path returns before checkpointHidden (put.go, check), which
// tells a parent that damage hides (its history entry is there, its
// record is not) from one deleted: ErrCorrupt, not ErrNotFound. A put
// sent again finds its own checkpoint stored, the same bytes, so success
// is its answer (an error would say that the stored checkpoint was not
// written), and it writes nothing about the parent: the damage stays
// reported, and a new put under that parent is still ErrCorrupt.
func TestH126PutSentAgainUnderAHiddenParentLeavesItHidden(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "hidden.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	root, err := s.Put(ctx, Config{ThreadID: "t"}, Checkpoint{}, Metadata{"step": 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Late in the ULID space, not its last id: the new puts below draw
	// ids after it (past the last id there is none: h205_last_id_test.go).
	cp := Checkpoint{ID: "7ZZZZZZZZZ0000000000000000", TS: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		ChannelValues: map[string]any{"c": 2}, ChannelVersions: map[string]string{"c": "1"}}
	put := func() (Config, error) {
		return s.Put(ctx, root, cp, Metadata{"step": 1}, map[string]string{"c": "1"})
	}
	child, err := put()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rootID, err := parseID("root", root.CheckpointID)
	if err != nil {
		t.Fatal(err)
	}
	editClosedFile(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketCheckpoints).Delete(checkpointKey("", rootID))
	})
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetTuple(ctx, root); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of the hidden parent: %v, want ErrCorrupt", err)
	}
	if c, err := put(); err != nil || c != child {
		t.Fatalf("sent again: %+v, %v; want %+v, nil (it is stored)", c, err, child)
	}
	if _, err := s.GetTuple(ctx, root); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read of the hidden parent after the put sent again: %v, want ErrCorrupt", err)
	}
	if _, err := s.GetTuple(ctx, child); err != nil {
		t.Fatalf("read of the checkpoint sent again: %v", err)
	}
	if _, err := s.Put(ctx, root, Checkpoint{}, nil, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a new put under the hidden parent: %v, want ErrCorrupt", err)
	}
	other := cp
	other.TS = cp.TS.Add(time.Second)
	if _, err := s.Put(ctx, root, other, Metadata{"step": 1}, map[string]string{"c": "1"}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a put again of other content under the hidden parent: %v, want ErrCorrupt", err)
	}
}
