package ckpt_test

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// tupleBytes is every value byte a tuple hands out: its channel values
// and its pending writes' values, by a name that says which.
func tupleBytes(t *testing.T, tp *ckpt.Tuple) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for ch, v := range tp.Checkpoint.ChannelValues {
		r, ok := v.(ckpt.Raw)
		if !ok {
			t.Fatalf("%s: channel %q holds a %T, not Raw", tp.Checkpoint.ID, ch, v)
		}
		out["value "+ch] = r
	}
	for i, w := range tp.PendingWrites {
		out[fmt.Sprintf("write %d %s/%s", i, w.TaskID, w.Channel)] = w.Value
	}
	return out
}

// A caller owns what a read returns: overwriting every byte of every value
// and pending write of the tuples it got (by GetTuple, latest and by id,
// and by List, whose page reuses what it found for the tuple before)
// changes nothing that a later read returns, whether the store still holds
// the checkpoints in its log or has applied them to the file.
func TestReadValuesAreTheCallersOwn(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		opts ckpt.Options
	}{{"log", ckpt.Options{Durability: ckpt.NoSync}}, {"nowal", ckpt.Options{NoWAL: true, Durability: ckpt.NoSync, DeltaFold: 2}}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s, _ := openTemp(t, mode.opts)
			const steps = 9
			var ids []string
			var msgs []string
			parent := ""
			for i := range steps {
				msgs = append(msgs, fmt.Sprintf("message %d %s", i, bytes.Repeat([]byte{'m'}, 40)))
				ver := fmt.Sprint(i + 1)
				values := map[string]any{"messages": msgs, "turn": i}
				nv := map[string]string{"messages": ver, "turn": ver}
				if i == 0 {
					values["context"], nv["context"] = "the context, never changed", "1"
				}
				cfg, err := s.PutFull(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent},
					ckpt.Checkpoint{V: 4, ChannelValues: values, ChannelVersions: map[string]string{"messages": ver, "turn": ver, "context": "1"}},
					ckpt.Metadata{"step": i}, nv,
					[]ckpt.TaskWrites{{TaskID: "task", Writes: []ckpt.Write{{Channel: "messages", Value: msgs[i]}, {Channel: "turn", Value: i}}}})
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, cfg.CheckpointID)
				parent = cfg.CheckpointID
			}
			saved := map[string]map[string][]byte{}
			for _, id := range ids {
				tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id})
				if err != nil {
					t.Fatal(err)
				}
				got := tupleBytes(t, tp)
				for k, b := range got {
					got[k] = bytes.Clone(b)
				}
				saved[id] = got
			}
			spoil := func(tp *ckpt.Tuple) {
				for _, b := range tupleBytes(t, tp) {
					for i := range b {
						b[i] ^= 0xff
					}
				}
			}
			same := func(how string, tp *ckpt.Tuple) {
				t.Helper()
				want, ok := saved[tp.Checkpoint.ID]
				if !ok {
					t.Fatalf("%s: read %s, not saved", how, tp.Checkpoint.ID)
				}
				got := tupleBytes(t, tp)
				if !maps.EqualFunc(got, want, bytes.Equal) {
					t.Fatalf("%s: %s reads\n%q\nwant\n%q", how, tp.Checkpoint.ID, got, want)
				}
			}
			for round := range 3 {
				latest, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"})
				if err != nil {
					t.Fatal(err)
				}
				same("latest", latest)
				spoil(latest)
				for _, id := range slices.Backward(ids) {
					tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id})
					if err != nil {
						t.Fatal(err)
					}
					same("by id", tp)
					spoil(tp)
				}
				n := 0
				for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
					if err != nil {
						t.Fatal(err)
					}
					same("listed", tp)
					spoil(tp)
					n++
				}
				if n != steps {
					t.Fatalf("listed %d of %d", n, steps)
				}
				if round == 0 {
					if err := s.Flush(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}
