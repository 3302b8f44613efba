package checkpointtest

// The conformance cases of PutWrites: pending writes of a step's tasks.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
)

func testPutWrites(t *testing.T, s ckpt.Saver) {
	cfg := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "w"}, emptyCheckpoint(), nil, nil))

	must(t).ok(s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "a", Value: "a1"}, {Channel: "b", Value: int64(1)}}, "task-2", "path-b"))
	must(t).ok(s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "c", Value: "c1"}}, "task-1", "path-b"))
	must(t).ok(s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "z", Value: "z1"}}, "task-9", "path-a"))
	// A regular write already stored is kept (first wins).
	must(t).ok(s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "a", Value: "a2"}}, "task-2", "path-b"))
	// Special channels replace.
	must(t).ok(s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: ckpt.ChannelError, Value: "boom-1"}}, "task-1", "path-b"))
	must(t).ok(s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: ckpt.ChannelError, Value: "boom-2"}, {Channel: ckpt.ChannelInterrupt, Value: "ask"}}, "task-1", "path-b"))

	type w struct {
		task, path string
		idx        int
		ch         string
		v          any
	}
	want := []w{
		{"task-9", "path-a", 0, "z", "z1"},
		{"task-1", "path-b", -3, ckpt.ChannelInterrupt, "ask"},
		{"task-1", "path-b", -1, ckpt.ChannelError, "boom-2"},
		{"task-1", "path-b", 0, "c", "c1"},
		{"task-2", "path-b", 0, "a", "a1"},
		{"task-2", "path-b", 1, "b", int64(1)},
	}
	got := must(t).tuple(s.GetTuple(ctx, cfg)).PendingWrites
	var gotW []w
	for _, p := range got {
		gotW = append(gotW, w{p.TaskID, p.TaskPath, p.Idx, p.Channel, must(t).val(p.Value.Value())})
	}
	if !reflect.DeepEqual(gotW, want) {
		t.Fatalf("pending writes\n got %v\nwant %v", gotW, want)
	}

	t.Run("a nil value reads back as nil", func(t *testing.T) {
		// LangGraph writes null values all the time (a write that only
		// triggers a node: ("branch:to:node", None)); in a channel too.
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "w-nil"}, ckpt.Checkpoint{
			ChannelValues:   map[string]any{"n": nil},
			ChannelVersions: map[string]string{"n": "1"},
		}, nil, map[string]string{"n": "1"}))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: "branch:to:node", Value: nil}, {Channel: ckpt.ChannelResume, Value: nil}}, "t", ""))
		tp := must(t).tuple(s.GetTuple(ctx, c))
		if got := values(t, tp); !reflect.DeepEqual(got, map[string]any{"n": nil}) {
			t.Fatalf("values %v, want n: nil", got)
		}
		if len(tp.PendingWrites) != 2 {
			t.Fatalf("pending writes %v, want 2", tp.PendingWrites)
		}
		for _, p := range tp.PendingWrites {
			var v any
			if err := p.Value.Decode(&v); err != nil || v != nil {
				t.Errorf("write to %q: %v, %v; want nil", p.Channel, v, err)
			}
		}
	})
	t.Run("a special write sent with regular ones still replaces", func(t *testing.T) {
		// As LangGraph's MemorySaver (its SqliteSaver ignores the special
		// write when the call holds regular ones too).
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "w-mixed"}, emptyCheckpoint(), nil, nil))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: ckpt.ChannelError, Value: "e1"}, {Channel: "a", Value: "a1"}}, "t", "p1"))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: "b", Value: "b2"}, {Channel: ckpt.ChannelError, Value: "e2"}}, "t", "p2"))
		var got []string
		for _, p := range must(t).tuple(s.GetTuple(ctx, c)).PendingWrites {
			got = append(got, fmt.Sprintf("%s %d %s %v", p.TaskPath, p.Idx, p.Channel, must(t).val(p.Value.Value())))
		}
		// A regular write's idx is its position in its call (a: 1, b: 0);
		// the error is e2, with the path of the call that sent it; the
		// order is (task path, task id, idx).
		want := []string{"p1 1 a a1", "p2 -1 __error__ e2", "p2 0 b b2"}
		if !slices.Equal(got, want) {
			t.Fatalf("pending writes %q, want %q", got, want)
		}
	})
	t.Run("a Put of a stored id replaces it and keeps its pending writes", func(t *testing.T) {
		// As LangGraph's savers: the checkpoint and metadata are the new
		// put's, the writes stay.
		root := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "w-again"}, emptyCheckpoint(), ckpt.Metadata{"step": int64(0)}, nil))
		c := must(t).cfg(s.Put(ctx, root, emptyCheckpoint(), ckpt.Metadata{"step": int64(1)}, nil))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: "a", Value: "a1"}}, "t", ""))
		again := emptyCheckpoint()
		again.ID = c.CheckpointID
		again.ChannelValues["x"] = "x2"
		again.ChannelVersions["x"] = "2"
		if got := must(t).cfg(s.Put(ctx, root, again, ckpt.Metadata{"step": int64(2)}, map[string]string{"x": "2"})); got != c {
			t.Fatalf("config %+v, want %+v", got, c)
		}
		tp := must(t).tuple(s.GetTuple(ctx, c))
		if tp.Metadata["step"] != int64(2) || len(tp.PendingWrites) != 1 || tp.ParentConfig == nil || *tp.ParentConfig != root {
			t.Fatalf("after the second put: metadata %v, writes %v, parent %+v", tp.Metadata, tp.PendingWrites, tp.ParentConfig)
		}
		if got := values(t, tp); !reflect.DeepEqual(got, map[string]any{"x": "x2"}) {
			t.Fatalf("values %v", got)
		}
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "w-again"}) {
			must(t).ok(err)
			n++
		}
		if n != 2 {
			t.Fatalf("%d checkpoints listed, want 2", n)
		}
	})
	t.Run("special indexes", func(t *testing.T) {
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "w-special"}, emptyCheckpoint(), nil, nil))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{
			{Channel: ckpt.ChannelResume, Value: 1}, {Channel: ckpt.ChannelInterrupt, Value: 2},
			{Channel: ckpt.ChannelScheduled, Value: 3}, {Channel: ckpt.ChannelError, Value: 4},
		}, "t", ""))
		var idx []int
		for _, p := range must(t).tuple(s.GetTuple(ctx, c)).PendingWrites {
			idx = append(idx, p.Idx)
		}
		if !slices.Equal(idx, []int{-4, -3, -2, -1}) {
			t.Fatalf("indexes %v", idx)
		}
	})
	t.Run("missing ids are rejected", func(t *testing.T) {
		for _, c := range []ckpt.Config{{}, {ThreadID: "w"}, {CheckpointID: cfg.CheckpointID}, {ThreadID: "w", CheckpointID: "bad"}} {
			if err := s.PutWrites(ctx, c, []ckpt.Write{{Channel: "a", Value: 1}}, "t", ""); !errors.Is(err, ckpt.ErrInvalidConfig) {
				t.Errorf("config %+v: err = %v, want ErrInvalidConfig", c, err)
			}
		}
	})
	t.Run("unknown checkpoint is not found", func(t *testing.T) {
		c := ckpt.Config{ThreadID: "w", CheckpointID: "01ARZ3NDEKTSV4RRFFQ69G5FAV"}
		if err := s.PutWrites(ctx, c, []ckpt.Write{{Channel: "a", Value: 1}}, "t", ""); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
		if _, err := s.Put(ctx, c, emptyCheckpoint(), nil, nil); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("put with unknown parent: %v, want ErrNotFound", err)
		}
		cas := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
		if _, err := s.Put(cas, c, emptyCheckpoint(), nil, nil); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("compare-and-set put with unknown parent: %v, want ErrNotFound", err)
		}
	})
	t.Run("writes belong to their checkpoint", func(t *testing.T) {
		next := must(t).cfg(s.Put(ctx, cfg, emptyCheckpoint(), nil, nil))
		if pw := must(t).tuple(s.GetTuple(ctx, next)).PendingWrites; len(pw) != 0 {
			t.Fatalf("new checkpoint has writes %v", pw)
		}
	})
}
