package ckpt_test

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// A thread whose every checkpoint has a growing list (stored as deltas and
// folded segments), a scalar, a value written once, and pending writes of
// several tasks (a special channel among them): what GetTuple and List
// give back is exactly what was written, checkpoint by checkpoint, with
// the stored log applied to the file and still in the log alike.
func TestTupleReadsGiveBackWhatWasWritten(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		opts ckpt.Options
	}{{"log", ckpt.Options{Durability: ckpt.NoSync}}, {"nowal", ckpt.Options{NoWAL: true, Durability: ckpt.NoSync, DeltaFold: 4}}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			s, _ := openTemp(t, mode.opts)
			const steps = 12
			type want struct {
				id     string
				parent string
				list   []string
				turn   int64
				writes [][3]any // task, channel, value
			}
			var wants []want
			parent := ""
			var list []string
			for i := range steps {
				list = append(list, "item "+strconv.Itoa(i))
				ver := strconv.Itoa(i + 1)
				values := map[string]any{"list": list, "turn": i}
				nv := map[string]string{"list": ver, "turn": ver}
				versions := map[string]string{"list": ver, "turn": ver, "context": "1"}
				if i == 0 {
					values["context"] = "the context"
					nv["context"] = "1"
				}
				cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent},
					ckpt.Checkpoint{V: 4, ChannelValues: values, ChannelVersions: versions},
					ckpt.Metadata{"step": i, "node": "n" + strconv.Itoa(i%3)}, nv)
				if err != nil {
					t.Fatal(err)
				}
				w := want{id: cfg.CheckpointID, parent: parent, list: slices.Clone(list), turn: int64(i)}
				for task := range i % 3 {
					tid := fmt.Sprintf("task-%d-%d", i, task)
					writes := []ckpt.Write{{Channel: "list", Value: "w" + tid}, {Channel: ckpt.ChannelError, Value: "e" + tid}}
					if err := s.PutWrites(ctx, cfg, writes, tid, "path/"+tid); err != nil {
						t.Fatal(err)
					}
					w.writes = append(w.writes, [3]any{tid, "list", "w" + tid}, [3]any{tid, ckpt.ChannelError, "e" + tid})
				}
				wants = append(wants, w)
				parent = cfg.CheckpointID
			}
			check := func(tp *ckpt.Tuple, w want) {
				t.Helper()
				if tp.Checkpoint.ID != w.id || tp.Config.CheckpointID != w.id {
					t.Fatalf("read %s, want %s", tp.Checkpoint.ID, w.id)
				}
				if w.parent == "" && tp.ParentConfig != nil || w.parent != "" && (tp.ParentConfig == nil || tp.ParentConfig.CheckpointID != w.parent) {
					t.Fatalf("%s: parent %+v, want %q", w.id, tp.ParentConfig, w.parent)
				}
				var got []string
				if err := tp.Decode("list", &got); err != nil || !slices.Equal(got, w.list) {
					t.Fatalf("%s: list %q (%v), want %q", w.id, got, err, w.list)
				}
				var turn int64
				var context string
				if err := tp.Decode("turn", &turn); err != nil || turn != w.turn {
					t.Fatalf("%s: turn %d (%v), want %d", w.id, turn, err, w.turn)
				}
				if err := tp.Decode("context", &context); err != nil || context != "the context" {
					t.Fatalf("%s: context %q (%v)", w.id, context, err)
				}
				if tp.Metadata["step"] != w.turn || tp.Metadata["node"] != "n"+strconv.Itoa(int(w.turn)%3) {
					t.Fatalf("%s: metadata %v", w.id, tp.Metadata)
				}
				var gotWrites [][3]any
				for _, pw := range tp.PendingWrites {
					v, err := pw.Value.Value()
					if err != nil {
						t.Fatal(err)
					}
					if pw.TaskPath != "path/"+pw.TaskID {
						t.Fatalf("%s: write of %s has task path %q", w.id, pw.TaskID, pw.TaskPath)
					}
					gotWrites = append(gotWrites, [3]any{pw.TaskID, pw.Channel, v})
				}
				// Sorted by (task path, task id, idx): the special write (idx -1) first.
				wantWrites := slices.Clone(w.writes)
				for i := 0; i+1 < len(wantWrites); i += 2 {
					wantWrites[i], wantWrites[i+1] = wantWrites[i+1], wantWrites[i]
				}
				if !reflect.DeepEqual(gotWrites, wantWrites) {
					t.Fatalf("%s: writes %v, want %v", w.id, gotWrites, wantWrites)
				}
			}
			for round := range 2 {
				for _, w := range wants {
					tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: w.id})
					if err != nil {
						t.Fatal(err)
					}
					check(tp, w)
				}
				tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"})
				if err != nil {
					t.Fatal(err)
				}
				check(tp, wants[len(wants)-1])
				i := len(wants) - 1
				for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
					if err != nil {
						t.Fatal(err)
					}
					check(tp, wants[i])
					i--
				}
				if i != -1 {
					t.Fatalf("listed %d of %d", len(wants)-1-i, len(wants))
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

// The values and pending writes of a tuple share one block of memory, but
// each is a slice of its own: appending to one, or writing into it, leaves
// the others as they were.
func TestTupleValuesDoNotAlias(t *testing.T) {
	t.Parallel()
	s, cfg := aliasStore(t)
	tp, err := s.GetTuple(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkNoAlias(t, tp)
}

// aliasStore is a store holding one checkpoint of three channels with two
// pending writes: a tuple whose five value slices share one block.
func aliasStore(t *testing.T) (*ckpt.Store, ckpt.Config) {
	t.Helper()
	s, _ := openTemp(t, ckpt.Options{})
	cfg, err := s.Put(ctx, ckpt.Config{ThreadID: "t"},
		ckpt.Checkpoint{ChannelValues: map[string]any{"a": []int{1, 2, 3}, "b": "bee", "c": 42}, ChannelVersions: map[string]string{"a": "1", "b": "1", "c": "1"}},
		nil, map[string]string{"a": "1", "b": "1", "c": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "a", Value: "x"}, {Channel: "b", Value: "y"}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	return s, cfg
}

// checkNoAlias appends to each value and pending write of tp (aliasStore's
// tuple) in turn and fails if any other one changed.
func checkNoAlias(t *testing.T, tp *ckpt.Tuple) {
	t.Helper()
	var raws []*ckpt.Raw
	for _, ch := range []string{"a", "b", "c"} {
		r := tp.Checkpoint.ChannelValues[ch].(ckpt.Raw)
		raws = append(raws, &r)
	}
	for i := range tp.PendingWrites {
		raws = append(raws, &tp.PendingWrites[i].Value)
	}
	before := make([][]byte, len(raws))
	for i, r := range raws {
		before[i] = bytes.Clone(*r)
	}
	for i, r := range raws {
		_ = append(*r, 0xc0, 0xc0, 0xc0) // must not land in a neighbour
		for j, o := range raws {
			if !bytes.Equal(*o, before[j]) {
				t.Fatalf("appending to value %d changed value %d: % x, was % x", i, j, *o, before[j])
			}
		}
	}
}
