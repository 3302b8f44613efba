package redisstore

import (
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// snapshotKeys returns the DUMP of every key under the store's prefix, by
// name: what a refused call must leave as it found.
func snapshotKeys(t *testing.T, s *Store) map[string]string {
	t.Helper()
	names, err := s.Client().Keys(bg, s.keys.prefix+":*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range names {
		v, err := s.Client().Dump(bg, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}

// The calls that delete (DeleteThread, Prune, KeepLast, DeleteForRuns,
// SweepIndex) check the layout marker as puts do: under another layout's
// marker (another build took the prefix after Redis lost its data) they
// fail with ckpt.ErrFormatVersion and delete nothing they do not
// understand; a marker that is gone is put back, and the call goes on.
func TestH126DeletesCheckTheLayoutMarker(t *testing.T) {
	srv := sharedServer(t)
	build := func(t *testing.T) *Store {
		s := newTestStore(t, srv, Options{})
		c := step(t, s, ckpt.Config{ThreadID: "t"}, 1)
		c = step(t, s, c, 2)
		if _, err := s.Put(bg, c, ckpt.Checkpoint{}, ckpt.Metadata{"run_id": "r"}, nil); err != nil {
			t.Fatal(err)
		}
		// An index entry of an expired thread, for SweepIndex to find.
		step(t, s, ckpt.Config{ThreadID: "gone"}, 1)
		if err := s.Client().Del(bg, s.keys.thread("gone")...).Err(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	calls := []struct {
		name string
		call func(s *Store) error
	}{
		{"DeleteThread", func(s *Store) error { return s.DeleteThread(bg, "t") }},
		{"Prune delete", func(s *Store) error { return s.Prune(bg, []string{"t"}, ckpt.PruneDelete) }},
		{"Prune keep latest", func(s *Store) error { return s.Prune(bg, []string{"t"}, ckpt.PruneKeepLatest) }},
		{"KeepLast", func(s *Store) error { _, err := s.KeepLast(bg, []string{"t"}, 1); return err }},
		{"DeleteForRuns", func(s *Store) error { return s.DeleteForRuns(bg, []string{"r"}) }},
		{"SweepIndex", func(s *Store) error { _, err := s.SweepIndex(bg); return err }},
	}

	s := build(t)
	if err := s.Client().Set(bg, s.keys.format(), "99", 0).Err(); err != nil {
		t.Fatal(err)
	}
	before := snapshotKeys(t, s)
	for _, c := range calls {
		if err := c.call(s); !errors.Is(err, ckpt.ErrFormatVersion) {
			t.Errorf("%s under another layout's marker: %v, want ErrFormatVersion", c.name, err)
		}
	}
	after := snapshotKeys(t, s)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("key %s changed by a refused call", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("key %s written by a refused call", k)
		}
	}

	for _, c := range calls {
		s := build(t)
		if err := s.Client().Del(bg, s.keys.format()).Err(); err != nil {
			t.Fatal(err)
		}
		if err := c.call(s); err != nil {
			t.Errorf("%s with the marker gone: %v", c.name, err)
		}
		if v, err := s.Client().Get(bg, s.keys.format()).Result(); v != formatVersion {
			t.Errorf("marker after %s: %q, %v; want %q", c.name, v, err, formatVersion)
		}
	}
}
