package ckpt

import (
	"context"
	"path/filepath"
	"testing"
)

// Stats (`ckpt stats`, the history browser's stats page) reads sizes, not
// values: on an encrypted store opened without keys, as `ckpt stats FILE`
// and `ckpt ui FILE` open it unless given --key-file, it must still count.
// It failed with the *KeyError of the first list segment it met, because
// sizing a list version stored as deltas opened its segments.
func TestStatsWithoutKeysOnSealedLists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sealed.db")
	s := openKeys(t, path, testKey(1, 7))
	for step := range 6 {
		if _, err := s.Save(ctx, "t", cryptState(step), Metadata{"step": step}); err != nil {
			t.Fatal(err)
		}
	}
	// And a step that changes no list: its lists are shared, not stored.
	if _, err := s.Save(ctx, "t", cryptState(5), Metadata{"step": 6}); err != nil {
		t.Fatal(err)
	}
	want, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want.ListVersions == 0 {
		t.Fatal("the fixture stored no list as deltas")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		s, err := Open(path, Options{ReadOnly: ro})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Stats(ctx)
		s.Close()
		if err != nil {
			t.Fatalf("Stats without keys (read-only %v): %v", ro, err)
		}
		if got.Threads != want.Threads || got.Checkpoints != want.Checkpoints || got.ChannelValues != want.ChannelValues ||
			got.ChannelRefs != want.ChannelRefs || got.SharedRefs != want.SharedRefs ||
			got.ListVersions != want.ListVersions || got.ListSegmentBytes != want.ListSegmentBytes {
			t.Fatalf("Stats without keys (read-only %v):\n%+v\nwith the key:\n%+v", ro, got, want)
		}
		// The savings need the lists' sizes: it says it could not size
		// them (each list version, and each shared reference to a list)
		// and claims no saving.
		if got.SealedUnsized < want.ListVersions+1 || got.SharedBytes != 0 || got.ListWholeBytes != 0 || got.DeltaSavedBytes != 0 {
			t.Fatalf("Stats without keys (read-only %v): %d unsized of %d list versions (and shared lists), shared %d, whole %d, saved %d; want all unsized, 0, 0, 0",
				ro, got.SealedUnsized, got.ListVersions, got.SharedBytes, got.ListWholeBytes, got.DeltaSavedBytes)
		}
		if want.SealedUnsized != 0 {
			t.Fatalf("Stats with the key: %d unsized", want.SealedUnsized)
		}
	}
}
