package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestH176SaveWithTheNewestKeyRaised: the newest root checkpoint's key in
// cp/ raised by damaged bytes above the keys after it (the thread's next
// namespace's). Save reads the head to make it the new checkpoint's
// parent (headID): the walk back from the end of the root namespace meets
// the raised key, out of place, and ends with ErrCorrupt, which headID
// dropped. The Save was acknowledged with the wrong parent (none, or the
// checkpoint before the newest): the history forked with no error. A Save
// must have the newest checkpoint as its parent or fail.
func TestH176SaveWithTheNewestKeyRaised(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	// Enough checkpoints that cp/ has pages of its own.
	const n = 300
	var newest string
	for i := range n {
		if newest, err = s.Save(ctx, "t", map[string]any{"n": i}, nil); err != nil {
			t.Fatal(err)
		}
	}
	vers := map[string]string{"text": "1"}
	for range 3 {
		if _, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: "s1"}, Checkpoint{
			ChannelValues: map[string]any{"text": "x"}, ChannelVersions: vers,
		}, nil, vers); err != nil && !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	newestID, err := parseID("id", newest)
	if err != nil {
		t.Fatal(err)
	}
	off := keyOffsetInFile(t, path, func(tx *bolt.Tx) ([]byte, error) {
		b := tx.Bucket(bucketThreads).Bucket([]byte("t")).Bucket(bucketCheckpoints)
		if b == nil || b.Root() == 0 {
			return nil, errors.New("cp/ is missing or inline")
		}
		key := checkpointKey("", newestID)
		k, _ := b.Cursor().Seek(key)
		if !bytes.Equal(k, key) {
			return nil, fmt.Errorf("cp/ key %x not found", key)
		}
		return k, nil
	})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// 0x0000 | id becomes 0x0002 "s1" 0xff...: above every key of s1.
	raised := append(nsKey("s1"), bytes.Repeat([]byte{0xff}, idLen-len("s1")-2)...)
	clean := bytes.Clone(data)
	copy(data[off:], raised)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openDamaged(t, path, Options{NoWAL: true}, clean)
	defer s.Close()
	id, err := s.Save(ctx, "t", map[string]any{"n": n}, nil)
	if errors.Is(err, ErrCorrupt) {
		t.Logf("Save: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("Save = %v, want the newest as its parent or ErrCorrupt", err)
	}
	snap, err := s.Load(ctx, "t", id)
	if err != nil {
		t.Fatalf("Load of the new checkpoint: %v", err)
	}
	if snap.ParentID != newest {
		t.Errorf("Save with the newest checkpoint's key raised: parent %q and no error, want %q or ErrCorrupt", snap.ParentID, newest)
	}
}
