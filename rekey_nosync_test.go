package ckpt

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// TestRekeyOnNoSyncStoreIsDurable: once Rekey returns nil the old keys
// may be dropped (its doc), so what it re-sealed must survive a power cut
// on a NoSync store too, whose writes are otherwise not fsync'd. A power
// cut is played by what was fsync'd: the store file as it was (the
// applier held, so the file is not written meanwhile) beside the log as
// its last fsync left it. On main Rekey's transactions and its marker
// went unsynced: after the cut the file held every record under the old
// key, and the store opened with the new key alone could not read it (a
// NoSync write may be lost; here everything stored was lost with the old
// key).
func TestRekeyOnNoSyncStoreIsDurable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	oldKey, newKey := Key{ID: 1, Secret: [32]byte{1}}, Key{ID: 2, Secret: [32]byte{2}}
	s, err := Open(path, Options{Encryption: &Encryption{Keys: []Key{oldKey}}})
	if err != nil {
		t.Fatal(err)
	}
	const steps = 30
	for i := range steps {
		if _, err := s.Save(ctx, "t", map[string]any{"i": i, "pad": bytes.Repeat([]byte{byte(i)}, 100)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fl, tune := newFsyncedLog()
	s, err = Open(path, Options{Durability: NoSync, Encryption: &Encryption{Keys: []Key{newKey, oldKey}}, tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Rekey(ctx)
	if err != nil || st.Resealed == 0 {
		t.Fatalf("Rekey: %+v %v", st, err)
	}
	// The power cut, as Rekey returned.
	cut := filepath.Join(dir, "cut.db")
	fl.cut(t, path, cut)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	c, err := Open(cut, Options{Encryption: &Encryption{Keys: []Key{newKey}}})
	if err != nil {
		t.Fatalf("Rekey returned nil; after a power cut the store with the new key alone: %v", err)
	}
	defer c.Close()
	n := 0
	for tp, err := range c.List(ctx, ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatalf("Rekey returned nil; after a power cut, a List with the new key alone: %v", err)
		}
		var pad []byte
		if err := tp.Decode("pad", &pad); err != nil {
			t.Fatalf("Rekey returned nil; after a power cut, a value with the new key alone: %v", err)
		}
		n++
	}
	if n != steps {
		t.Errorf("%d checkpoints after the cut, want %d", n, steps)
	}
}
