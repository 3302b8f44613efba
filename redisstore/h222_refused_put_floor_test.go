package redisstore

import (
	"context"
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// h222: PutFull raised the id floor to a given id (ids.Observe) before
// anything was checked or sent, so a Put of the largest ULID that returned
// an error, and stored nothing, left no id for any later Put with a new
// id (ErrIDsExhausted) in this process.
func TestH222RefusedPutOfLargestIDLeavesIDs(t *testing.T) {
	const last = "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"
	srv := sharedServer(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	refused := map[string]func(s *Store) error{
		"ctx ended": func(s *Store) error {
			_, err := s.Put(cancelled, ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{ID: last, ChannelValues: map[string]any{"n": 0},
				ChannelVersions: map[string]string{"n": "1"}}, nil, map[string]string{"n": "1"})
			return err
		},
		"value not encodable": func(s *Store) error {
			_, err := s.Put(context.Background(), ckpt.Config{ThreadID: "t"}, ckpt.Checkpoint{ID: last, ChannelValues: map[string]any{"n": func() {}},
				ChannelVersions: map[string]string{"n": "1"}}, nil, map[string]string{"n": "1"})
			return err
		},
	}
	for _, name := range []string{"ctx ended", "value not encodable"} {
		s := newTestStore(t, srv, Options{})
		if err := refused[name](s); err == nil {
			t.Fatalf("%s: Put of %s returned nil", name, last)
		}
		cfg, err := s.Put(context.Background(), ckpt.Config{ThreadID: "u"}, ckpt.Checkpoint{ChannelValues: map[string]any{"n": 1},
			ChannelVersions: map[string]string{"n": "1"}}, nil, map[string]string{"n": "1"})
		if errors.Is(err, ckpt.ErrIDsExhausted) {
			t.Errorf("%s: after a refused Put of %s (nothing stored), Put with a new id: %v", name, last, err)
		} else if err != nil || cfg.CheckpointID == "" {
			t.Errorf("%s: Put: %+v %v", name, cfg, err)
		}
	}
}
