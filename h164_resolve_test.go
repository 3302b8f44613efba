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

// TestH164ResolveIDOfADamagedKey: a byte of a checkpoint's key in cp/ is
// flipped (the sweep of h164_flip_sweep_test.go found it; here the record
// is moved under the changed key), so the key names an id never written.
// ResolveID, which tools call with the start of an id someone typed
// (`ckpt show`, `ckpt diff`), matched the start against cp/'s keys alone
// and returned that id with no error.
func TestH164ResolveIDOfADamagedKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "resolve.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	cfg := ckpt.Config{ThreadID: "t"}
	var ids []string
	for step := range 3 {
		cp := ckpt.Checkpoint{ChannelValues: map[string]any{"n": step}, ChannelVersions: map[string]string{"n": string(rune('1' + step))}}
		if cfg, err = s.Put(ctx, cfg, cp, ckpt.Metadata{"step": step}, map[string]string{"n": string(rune('1' + step))}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, cfg.CheckpointID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	moved := ulid.MustParse(ids[1])
	moved[15] ^= 0x10
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		cp := tx.Bucket([]byte("threads")).Bucket([]byte("t")).Bucket([]byte("cp"))
		id := ulid.MustParse(ids[1])
		old := append([]byte{0, 0}, id[:]...)
		v := append([]byte(nil), cp.Get(old)...)
		if err := cp.Delete(old); err != nil {
			return err
		}
		return cp.Put(append([]byte{0, 0}, moved[:]...), v)
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
	prefix := moved.String()[:24]
	got, err := s.ResolveID(ctx, "t", "", prefix)
	if err == nil {
		t.Fatalf("ResolveID(%s) = %s with no error; the ids written are %q", prefix, got, ids)
	}
	if !errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("ResolveID(%s): %v, want ErrCorrupt", prefix, err)
	}
	// The others still resolve.
	if got, err := s.ResolveID(ctx, "t", "", ids[2][:24]); err != nil || got != ids[2] {
		t.Fatalf("ResolveID of an intact checkpoint: %s, %v", got, err)
	}
}
