package ckpt

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestFoldPastByteBounds: appends large enough that deltas fold early
// (foldBytes) and that folds above the deltas stop at maxFoldedBytes, with
// forks from older checkpoints in between: every version reads back
// exactly, by id and through List.
func TestFoldPastByteBounds(t *testing.T) {
	t.Parallel()
	// Under -race one of the three fold levels, drawn per run (raceSample):
	// one goroutine puts to and reads a NoWAL store (the detector meets
	// only the store's own goroutines beside it, which the one level meets
	// too), and its 60 puts of values up to 3 MiB cost 11-18 s a level
	// there, 1-2 s without; CI's plain command runs all three.
	keep := raceSample(t, 3)
	for i, k := range []int{2, 3, 8} {
		if !keep(i) {
			continue
		}
		t.Run(fmt.Sprint("K=", k), func(t *testing.T) {
			t.Parallel()
			s := openTestStore(t, Options{DeltaFold: k, NoWAL: true})
			ctx := context.Background()
			type saved struct {
				cfg  Config
				msgs []string
			}
			var all []saved
			parent, msgs := Config{ThreadID: "t"}, []string(nil)
			for step := range 60 {
				if step%25 == 24 { // a fork from an older checkpoint
					old := all[step/2]
					parent, msgs = old.cfg, old.msgs
				}
				size := 1 << 10
				if step%3 == 0 {
					size = 150 << 10 // two of these hold foldBytes
				}
				msgs = append(slices.Clone(msgs), strings.Repeat(string(rune('a'+step%26)), size))
				v := fmt.Sprint(step + 1)
				c, err := s.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"m": msgs}, ChannelVersions: map[string]string{"m": v}}, nil, map[string]string{"m": v})
				if err != nil {
					t.Fatal(err)
				}
				parent = c
				all = append(all, saved{c, msgs})
			}
			byID := map[string][]string{}
			for _, sv := range all {
				byID[sv.cfg.CheckpointID] = sv.msgs
				tp, err := s.GetTuple(ctx, sv.cfg)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				if err := tp.Decode("m", &got); err != nil || !slices.Equal(got, sv.msgs) {
					t.Fatalf("checkpoint %s: %d items read, %d saved (%v)", sv.cfg.CheckpointID, len(got), len(sv.msgs), err)
				}
			}
			n := 0
			for tp, err := range s.List(ctx, ListOptions{ThreadID: "t", Namespace: NS("")}) {
				if err != nil {
					t.Fatal(err)
				}
				n++
				var got []string
				if err := tp.Decode("m", &got); err != nil || !slices.Equal(got, byID[tp.Config.CheckpointID]) {
					t.Fatalf("List: checkpoint %s: %d items read, %d saved (%v)", tp.Config.CheckpointID, len(got), len(byID[tp.Config.CheckpointID]), err)
				}
			}
			if n != len(all) {
				t.Fatalf("List: %d checkpoints, saved %d", n, len(all))
			}
		})
	}
}
