package redisstore

// h117-hunt: a read over a key of the wrong Redis type failed with a
// CorruptError whose Key listed every key the script was given (all seven
// of the thread's, the index too), not the one damaged: the package
// promises a CorruptError naming the key.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

func TestH117WrongTypeErrorNamesTheOneKey(t *testing.T) {
	srv := sharedServer(t)
	drain := func(seq func(func(*ckpt.Tuple, error) bool)) error {
		for _, err := range seq {
			if err != nil {
				return err
			}
		}
		return nil
	}
	ops := []struct {
		name string
		do   func(ctx context.Context, s *Store, c ckpt.Config) error
	}{
		{"GetTuple head", func(ctx context.Context, s *Store, c ckpt.Config) error {
			_, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "x"})
			return err
		}},
		{"GetTuple by id", func(ctx context.Context, s *Store, c ckpt.Config) error { _, err := s.GetTuple(ctx, c); return err }},
		{"List thread", func(ctx context.Context, s *Store, c ckpt.Config) error {
			return drain(s.List(ctx, ckpt.ListOptions{ThreadID: "x"}))
		}},
		{"List all", func(ctx context.Context, s *Store, c ckpt.Config) error {
			return drain(s.List(ctx, ckpt.ListOptions{}))
		}},
		{"DeleteThread", func(ctx context.Context, s *Store, c ckpt.Config) error { return s.DeleteThread(ctx, "x") }},
		{"Prune delete", func(ctx context.Context, s *Store, c ckpt.Config) error {
			return s.Prune(ctx, []string{"x"}, ckpt.PruneDelete)
		}},
		{"SweepIndex", func(ctx context.Context, s *Store, c ckpt.Config) error { _, err := s.SweepIndex(ctx); return err }},
	}
	damaged := append(kindNames[:], "idx")
	for _, kind := range damaged {
		for _, o := range ops {
			s := newTestStore(t, srv, Options{})
			c := ckpt.Config{ThreadID: "x"}
			for n := 1; n <= 2; n++ {
				c = step(t, s, c, n)
				if err := s.PutWrites(bg, c, []ckpt.Write{{Channel: "w", Value: n}}, "t", ""); err != nil {
					t.Fatal(err)
				}
			}
			key := s.keys.index()
			for k, name := range kindNames {
				if name == kind {
					key = s.keys.thread("x")[k]
				}
			}
			s.Client().Del(bg, key)
			s.Client().Set(bg, key, "not the store's", 0)
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			err := o.do(ctx, s, c)
			cancel()
			if err == nil {
				continue // the call does not read that key
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Key != key {
				t.Errorf("%s over a %s key of the wrong type: %v, want a CorruptError naming %q alone", o.name, kind, err, key)
			}
		}
	}
}
