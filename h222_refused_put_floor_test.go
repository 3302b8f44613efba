package ckpt_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h222: a Put of a given id raises the floor of new ids (they must sort
// after it) before anything is checked or queued, so a Put of the largest
// ULID that returned an error, and stored nothing, still leaves the
// process with no id to give: every later Save fails with ErrIDsExhausted
// until the store is reopened. A write that returned an error must leave
// nothing behind, its mark on later writes included.
func TestH222RefusedPutOfLargestIDLeavesIDs(t *testing.T) {
	t.Parallel()
	const last = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
	var s *ckpt.Store
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := map[string]func() error{
		"ctx ended": func() error {
			_, err := s.Put(cancelled, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{ID: last, ChannelValues: map[string]any{"n": 0},
				ChannelVersions: map[string]string{"n": "1"}}, nil, map[string]string{"n": "1"})
			return err
		},
		"value not encodable": func() error {
			_, err := s.Put(context.Background(), ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{ID: last, ChannelValues: map[string]any{"n": func() {}},
				ChannelVersions: map[string]string{"n": "1"}}, nil, map[string]string{"n": "1"})
			return err
		},
	}
	for _, name := range []string{"ctx ended", "value not encodable"} {
		put := refused[name]
		var err error
		if s, err = ckpt.Open(filepath.Join(t.TempDir(), "s.db"), ckpt.Options{}); err != nil {
			t.Fatal(err)
		}
		defer func(s *ckpt.Store) { _ = s.Close() }(s)
		if err := put(); err == nil {
			t.Fatalf("%s: Put of %s returned nil", name, last)
		}
		id, err := s.Save(context.Background(), "u", map[string]any{"n": 1}, nil)
		if errors.Is(err, ckpt.ErrIDsExhausted) {
			t.Errorf("%s: after a refused Put of %s (nothing stored), Save: %v", name, last, err)
		}
		if err != nil && !errors.Is(err, ckpt.ErrIDsExhausted) || err == nil && id == "" {
			t.Fatalf("%s: Save: %q %v", name, id, err)
		}
	}
}
