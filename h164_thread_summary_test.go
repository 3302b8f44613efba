package ckpt_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// TestH164ThreadSummaryWithoutItsMetadataBucket: a thread's md/ bucket is
// gone (a flipped flag byte of its entry in the thread's page made it a
// plain value: the sweep of h164_flip_sweep_test.go found it; here the
// bucket is deleted). Every read of a checkpoint says ErrCorrupt, but the
// summary counted the metadata records only once it met one: with none,
// Thread, Threads and RecentThreads summarised the thread with no error,
// its Bytes short by every metadata record.
func TestH164ThreadSummaryWithoutItsMetadataBucket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "md.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range []string{"a", "b"} {
		cfg := ckpt.Config{ThreadID: th}
		for step := range 3 {
			cp := ckpt.Checkpoint{ChannelValues: map[string]any{"n": step}, ChannelVersions: map[string]string{"n": string(rune('1' + step))}}
			if cfg, err = s.Put(ctx, cfg, cp, ckpt.Metadata{"step": step, "node": "x"}, map[string]string{"n": string(rune('1' + step))}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("threads")).Bucket([]byte("a")).DeleteBucket([]byte("md"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "a"}); !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("GetTuple of the thread without metadata: %v, want ErrCorrupt", err)
	}
	if ti, err := s.Thread(ctx, "a"); !errors.Is(err, ckpt.ErrCorrupt) {
		t.Errorf("Thread: %+v, %v; want ErrCorrupt", ti, err)
	}
	for ti, err := range s.Threads(ctx) {
		if err == nil && ti.ThreadID == "a" {
			t.Errorf("Threads summarises a, %d bytes, with no error", ti.Bytes)
		}
		if err != nil {
			if !errors.Is(err, ckpt.ErrCorrupt) {
				t.Errorf("Threads: %v, want ErrCorrupt", err)
			}
			break
		}
	}
	pg, err := s.RecentThreads(ctx, ckpt.ThreadQuery{})
	if err != nil {
		t.Fatal(err)
	}
	for i, ti := range pg.Threads {
		if ti.ThreadID == "a" && (pg.Errs == nil || !errors.Is(pg.Errs[i], ckpt.ErrCorrupt)) {
			t.Errorf("RecentThreads summarises a, %d bytes, with no error", ti.Bytes)
		}
	}
	// Read-only: Stats names the damaged thread and goes on (H239).
	if st, err := s.Stats(ctx); err != nil || !slices.Equal(st.DamagedThreads, []string{"a"}) {
		t.Errorf("Stats: %+v, %v; want thread a named damaged", st, err)
	}
}
