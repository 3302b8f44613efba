package ckpt_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// TestH164ListFirstIsTheNewestOrAnError: a thread's newest checkpoint
// record is gone from the file (a flipped byte of its key moved it out of
// the namespace's range; here deleted). A List of the namespace walks the
// namespace's records, finds the older ones, and its page check then
// finds the history entry with no record: ErrCorrupt. But the page was
// yielded first: a caller that takes the first tuple as the newest (a
// List with Limit 1, LangGraph's way to read the latest, or any loop that
// stops at the first) read an older checkpoint as the head and never saw
// the error. Every List must yield the checkpoints the file holds, in
// order, up to where it fails: its first item here is the error.
func TestH164ListFirstIsTheNewestOrAnError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "first.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ckpt.Config{ThreadID: "t"}
	for step := range 5 {
		cp := ckpt.Checkpoint{ChannelValues: map[string]any{"n": step}, ChannelVersions: map[string]string{"n": string(rune('1' + step))}}
		if cfg, err = s.Put(ctx, cfg, cp, ckpt.Metadata{"step": step}, map[string]string{"n": string(rune('1' + step))}); err != nil {
			t.Fatal(err)
		}
	}
	newest := cfg.CheckpointID
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	id := ulid.MustParse(newest)
	if err := db.Update(func(tx *bolt.Tx) error {
		cp := tx.Bucket([]byte("threads")).Bucket([]byte("t")).Bucket([]byte("cp"))
		return cp.Delete(append([]byte{0, 0}, id[:]...)) // nsKey("") | id
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
	for _, opts := range []ckpt.ListOptions{
		{ThreadID: "t", Namespace: ckpt.NS(""), Limit: 1},
		{ThreadID: "t", Namespace: ckpt.NS("")},
		{ThreadID: "t", Limit: 1},
		{Limit: 1},
	} {
		for tp, err := range s.List(ctx, opts) {
			if err == nil {
				t.Errorf("List%+v: first item %s, no error; the thread's newest is %s, whose record is gone", opts, tp.Config.CheckpointID, newest)
			} else if !errors.Is(err, ckpt.ErrCorrupt) {
				t.Errorf("List%+v: %v, want ErrCorrupt", opts, err)
			}
			break // the caller that takes the first as the newest
		}
	}
}
