package ckpt

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestListPagesMatchGetTuple: a history longer than several List pages
// (listPage), list channels appended, forked and cut in two namespaces:
// every tuple List yields, whatever the selector, holds GetTuple's bytes
// for each channel, and the ids come newest first, each once.
func TestListPagesMatchGetTuple(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openTestStore(t, Options{DeltaFold: 3, NoWAL: true})
	rng := rand.New(rand.NewPCG(1, 2))
	type cp struct {
		cfg  Config
		msgs []string
	}
	var all []cp
	heads := map[string]cp{}
	for step := range 3*listPage + 10 {
		ns := []string{"", "sub"}[rng.IntN(2)]
		base, ok := heads[ns]
		if ok && rng.IntN(6) == 0 { // a fork from an older checkpoint of ns
			var older []cp
			for _, c := range all {
				if c.cfg.CheckpointNS == ns {
					older = append(older, c)
				}
			}
			base = older[rng.IntN(len(older))]
		}
		msgs := slices.Clone(base.msgs)
		if rng.IntN(8) == 0 && len(msgs) > 0 {
			msgs = msgs[:rng.IntN(len(msgs))]
		}
		msgs = append(msgs, fmt.Sprint("m", step))
		v := fmt.Sprint(step)
		parent := base.cfg
		if !ok {
			parent = Config{ThreadID: "t", CheckpointNS: ns}
		}
		c, err := s.Put(ctx, parent, Checkpoint{ChannelValues: map[string]any{"m": msgs, "k": "const"}, ChannelVersions: map[string]string{"m": v, "k": "1"}}, Metadata{"ns": ns}, map[string]string{"m": v, "k": "1"})
		if err != nil {
			t.Fatal(err)
		}
		heads[ns] = cp{c, msgs}
		all = append(all, heads[ns])
	}
	for _, o := range []ListOptions{{}, {ThreadID: "t"}, {ThreadID: "t", Namespace: NS("")}, {ThreadID: "t", Namespace: NS("sub")}, {ThreadID: "t", Filter: map[string]any{"ns": "sub"}}} {
		var ids []string
		for tp, err := range s.List(ctx, o) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, tp.Config.CheckpointID)
			byID, err := s.GetTuple(ctx, tp.Config)
			if err != nil {
				t.Fatal(err)
			}
			for ch, v := range byID.Checkpoint.ChannelValues {
				if !bytes.Equal(v.(Raw), tp.Checkpoint.ChannelValues[ch].(Raw)) {
					t.Fatalf("List %+v: checkpoint %s channel %s differs from GetTuple's", o, tp.Config.CheckpointID, ch)
				}
			}
		}
		want := 0
		for _, c := range all {
			if o.Namespace == nil && o.Filter == nil || o.Namespace != nil && *o.Namespace == c.cfg.CheckpointNS || o.Filter != nil && c.cfg.CheckpointNS == "sub" {
				want++
			}
		}
		if len(ids) != want || !slices.IsSortedFunc(ids, func(a, b string) int { return strings.Compare(b, a) }) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Fatalf("List %+v: %d ids (newest first, once each?), want %d", o, len(ids), want)
		}
	}
	// Every checkpoint still reads what it saved.
	for _, c := range all {
		tp, err := s.GetTuple(ctx, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		if err := tp.Decode("m", &got); err != nil || !slices.Equal(got, c.msgs) {
			t.Fatalf("checkpoint %s reads %v (%v), saved %v", c.cfg.CheckpointID, got, err, c.msgs)
		}
	}
}
