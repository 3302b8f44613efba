package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
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
