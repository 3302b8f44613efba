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
			got.ChannelRefs != want.ChannelRefs || got.SharedRefs != want.SharedRefs || got.SharedBytes != want.SharedBytes ||
			got.ListVersions != want.ListVersions || got.ListSegmentBytes != want.ListSegmentBytes {
			t.Fatalf("Stats without keys (read-only %v):\n%+v\nwith the key:\n%+v", ro, got, want)
		}
	}
}
