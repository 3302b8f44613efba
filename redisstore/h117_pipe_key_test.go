package redisstore

// h117-hunt: List, DeleteForRuns and SweepIndex read many keys in one
// pipelined round trip. When one of those keys held the wrong Redis type,
// the pipeline's first error was wrapped without its key: a CorruptError
// whose Key was "", where the package promises one naming the key.

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

func TestH117WrongTypeKeyIsNamedByPipelinedReads(t *testing.T) {
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
		do   func(ctx context.Context, s *Store) error
	}{
		{"List thread", func(ctx context.Context, s *Store) error {
			return drain(s.List(ctx, ckpt.ListOptions{ThreadID: "x"}))
		}},
		{"List all", func(ctx context.Context, s *Store) error { return drain(s.List(ctx, ckpt.ListOptions{})) }},
		{"List filter", func(ctx context.Context, s *Store) error {
			return drain(s.List(ctx, ckpt.ListOptions{Filter: map[string]any{"step": 2}}))
		}},
		{"DeleteForRuns", func(ctx context.Context, s *Store) error { return s.DeleteForRuns(ctx, []string{"r1"}) }},
		{"SweepIndex", func(ctx context.Context, s *Store) error { _, err := s.SweepIndex(ctx); return err }},
	}
	for k, kind := range kindNames {
		for _, o := range ops {
			s := newTestStore(t, srv, Options{})
			c := ckpt.Config{ThreadID: "x"}
			for n := 1; n <= 3; n++ {
				c = step(t, s, c, n)
				if err := s.PutWrites(bg, c, []ckpt.Write{{Channel: "w", Value: n}}, "t", ""); err != nil {
					t.Fatal(err)
				}
			}
			key := s.keys.thread("x")[k]
			s.Client().Del(bg, key)
			s.Client().Set(bg, key, "not the store's", 0)
			ctx, cancel := context.WithTimeout(bg, 5*time.Second)
			err := o.do(ctx, s)
			cancel()
			if err == nil {
				continue // the call does not read that key
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || !strings.Contains(ce.Key, key) {
				t.Errorf("%s over a %s key of the wrong type: %v, want a CorruptError naming %q", o.name, kind, err, key)
			}
		}
	}
}
