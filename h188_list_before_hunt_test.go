package ckpt

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// TestH188ListBeforeHuntSound: random Puts over threads and namespaces,
// DeleteThread, CopyThread and GC; after each round every List with
// Before (ids stored, deleted, older than all, between) must be the full
// List's entries below Before, never ErrCorrupt: with the log, with
// NoWAL, and on a read-only reopen.
func TestH188ListBeforeHuntSound(t *testing.T) {
	t.Parallel()
	rounds := 4
	if s := os.Getenv("H188_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	ctx := context.Background()
	lists := 0
	for seed := range rounds {
		r := rand.New(rand.NewPCG(uint64(seed), 18))
		path := t.TempDir() + "/s.db"
		opts := Options{NoWAL: seed%2 == 1}
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string // every id ever made, deleted ones too
		check := func(s *Store, what string) {
			type e struct{ id, th, ns string }
			var all []e
			for tp, err := range s.List(ctx, ListOptions{}) {
				if err != nil {
					t.Fatalf("seed %d %s: List: %v", seed, what, err)
				}
				all = append(all, e{tp.Config.CheckpointID, tp.Config.ThreadID, tp.Config.CheckpointNS})
			}
			befores := []string{idString([idLen]byte{}), idString([idLen]byte{1})}
			for range 12 * min(1, len(ids)) {
				befores = append(befores, ids[r.IntN(len(ids))])
			}
			for _, b := range befores {
				limit := r.IntN(6)
				var want []e
				for _, x := range all {
					if x.id < b && (limit == 0 || len(want) < limit) {
						want = append(want, x)
					}
				}
				var got []e
				for tp, err := range s.List(ctx, ListOptions{Before: b, Limit: limit}) {
					if err != nil {
						t.Fatalf("seed %d %s: List{Before %s, Limit %d}: %v", seed, what, b, limit, err)
					}
					got = append(got, e{tp.Config.CheckpointID, tp.Config.ThreadID, tp.Config.CheckpointNS})
				}
				lists++
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d %s: List{Before %s, Limit %d}: %d entries, want %d", seed, what, b, limit, len(got), len(want))
				}
			}
		}
		for round := range 25 {
			for range 1 + r.IntN(30) {
				th := fmt.Sprintf("t%d", r.IntN(8))
				ns := []string{"", "sub", "a:b"}[r.IntN(3)]
				switch x := r.IntN(20); {
				case x == 0:
					if err := s.DeleteThread(ctx, th); err != nil {
						t.Fatal(err)
					}
				case x == 1:
					err := s.CopyThread(ctx, th, fmt.Sprintf("t%d", r.IntN(8)), CopyOptions{Replace: true})
					_ = err // missing source, same thread: not what is hunted
				default:
					cfg, err := s.Put(ctx, Config{ThreadID: th, CheckpointNS: ns}, Checkpoint{}, nil, nil)
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, cfg.CheckpointID)
				}
			}
			if r.IntN(3) == 0 {
				if _, err := s.GC(ctx, Policy{KeepLast: 1 + r.IntN(4)}); err != nil {
					t.Fatal(err)
				}
			}
			check(s, fmt.Sprintf("round %d", round))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		ro, err := Open(path, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		check(ro, "read-only")
		ro.Close()
	}
	t.Logf("%d stores, %d Lists with Before", rounds, lists)
}
