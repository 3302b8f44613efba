package ckpt_test

// Issue 14, versions: a (channel, version) names one value for ever, Save
// never reuses a version, forks in the simple API, decode-type errors.

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// stateOf loads a checkpoint's state decoded generically.
func stateOf(t *testing.T, s *ckpt.Store, thread, id string) map[string]any {
	t.Helper()
	snap, err := s.Load(ctx, thread, id)
	if err != nil {
		t.Fatal(err)
	}
	m, err := snap.StateMap()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func save(t *testing.T, s *ckpt.Store, thread string, state map[string]any, parent string) string {
	t.Helper()
	c := ctx
	if parent != "" {
		c = ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: parent})
	}
	id, err := s.Save(c, thread, state, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func wantState(t *testing.T, s *ckpt.Store, thread, id string, want map[string]any) {
	t.Helper()
	if got := stateOf(t, s, thread, id); !reflect.DeepEqual(got, want) {
		t.Fatalf("checkpoint %s reads %v, saved %v", id, got, want)
	}
}

// Issue 14 item 1: Save drops a channel, then adds it back.
func TestSaveDropAndReAddChannel(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	states := []map[string]any{
		{"x": "A", "keep": int64(1)},
		{"keep": int64(1)},
		{"x": "B", "keep": int64(1)},
		{"keep": int64(1)},
		{"x": "A", "keep": int64(1)},
		{"x": "C", "keep": int64(1)},
	}
	var ids []string
	for _, st := range states {
		ids = append(ids, save(t, s, "t", st, ""))
	}
	for i, id := range ids {
		wantState(t, s, "t", id, states[i])
	}
}

// A list channel (stored as append-deltas) dropped and re-added, then
// grown: each checkpoint reads its own list.
func TestSaveDropAndReAddListChannel(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	l := func(xs ...string) []any {
		out := make([]any, len(xs))
		for i, x := range xs {
			out[i] = x
		}
		return out
	}
	states := []map[string]any{
		{"m": l("a"), "k": true},
		{"m": l("a", "b"), "k": true},
		{"k": true},
		{"m": l("c"), "k": true},
		{"m": l("c", "d"), "k": true},
	}
	var ids []string
	for _, st := range states {
		ids = append(ids, save(t, s, "t", st, ""))
	}
	for i, id := range ids {
		wantState(t, s, "t", id, states[i])
	}
}

// Issue 14 item 2: a fork with Put under the natural next version must not
// read the other branch: it is refused, and nothing of it is written.
func TestPutForkReusingVersionIsRefused(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	put := func(parent, x, ver string) (ckpt.Config, error) {
		return s.Put(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent},
			ckpt.Checkpoint{ChannelValues: map[string]any{"x": x}, ChannelVersions: map[string]string{"x": ver}},
			ckpt.Metadata{"x": x}, map[string]string{"x": ver})
	}
	first, err := put("", "first", "1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := put(first.CheckpointID, "second", "2")
	if err != nil {
		t.Fatal(err)
	}
	_, err = put(first.CheckpointID, "fork", "2")
	var vc *ckpt.VersionConflictError
	if !errors.Is(err, ckpt.ErrVersionReused) || !errors.As(err, &vc) {
		t.Fatalf("fork under a used version: %v, want ErrVersionReused", err)
	}
	if errors.Is(err, ckpt.ErrConflict) || errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("version reuse also matches ErrConflict/ErrCorrupt: %v", err)
	}
	if *vc != (ckpt.VersionConflictError{Thread: "t", NS: "", Channel: "x", Version: "2"}) {
		t.Fatalf("error names %+v", *vc)
	}
	n := 0
	for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("%d checkpoints after the refused put, want 2", n)
	}
	wantState(t, s, "t", second.CheckpointID, map[string]any{"x": "second"})

	// The same bytes under the same version stay shared, and a fork under
	// a new version reads its own value.
	if _, err := put(first.CheckpointID, "second", "2"); err != nil {
		t.Fatalf("identical bytes under a stored version: %v", err)
	}
	fork, err := put(first.CheckpointID, "fork", "3")
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, s, "t", fork.CheckpointID, map[string]any{"x": "fork"})
	// The next Save (child of the fork, the newest) reads and writes its own.
	next := save(t, s, "t", map[string]any{"x": "after"}, "")
	wantState(t, s, "t", next, map[string]any{"x": "after"})
	wantState(t, s, "t", second.CheckpointID, map[string]any{"x": "second"})
}

// The comparison is on the logical value: a list stored as a reference
// into a lineage of segments equals the same list given again, and differs
// from another list or an empty marker.
func TestVersionReuseComparesLogicalValue(t *testing.T) {
	t.Parallel()
	for _, opts := range []ckpt.Options{{}, {NoWAL: true}} {
		s, _ := openTemp(t, opts)
		put := func(parent string, vals map[string]any, nv map[string]string) (ckpt.Config, error) {
			return s.Put(ctx, ckpt.Config{ThreadID: "t", CheckpointID: parent},
				ckpt.Checkpoint{ChannelValues: vals, ChannelVersions: nv}, nil, nv)
		}
		c1, err := put("", map[string]any{"m": []string{"a", "b"}}, map[string]string{"m": "1", "e": "1"})
		if err != nil {
			t.Fatal(err)
		}
		c2, err := put(c1.CheckpointID, map[string]any{"m": []string{"a", "b", "c"}}, map[string]string{"m": "2"})
		if err != nil {
			t.Fatal(err)
		}
		// Same list again under "2" (stored as a delta on lineage of "1").
		if _, err := put(c1.CheckpointID, map[string]any{"m": []string{"a", "b", "c"}}, map[string]string{"m": "2"}); err != nil {
			t.Fatalf("same list under its version: %v", err)
		}
		for _, bad := range []map[string]any{
			{"m": []string{"a", "b", "d"}},
			{"m": []string{"a", "b"}},
			{"m": []string{"a", "b", "c", "d"}},
			{"m": "abc"},
			{}, // empty marker under a version that holds a list
		} {
			if _, err := put(c2.CheckpointID, bad, map[string]string{"m": "2"}); !errors.Is(err, ckpt.ErrVersionReused) {
				t.Fatalf("%v under version 2: %v, want ErrVersionReused", bad, err)
			}
		}
		// "e" was stored empty: empty again is shared, a value is refused.
		if _, err := put(c1.CheckpointID, map[string]any{}, map[string]string{"e": "1"}); err != nil {
			t.Fatal(err)
		}
		if _, err := put(c1.CheckpointID, map[string]any{"e": 1}, map[string]string{"e": "1"}); !errors.Is(err, ckpt.ErrVersionReused) {
			t.Fatalf("value under an empty version: %v", err)
		}
		// A refused put with several channels writes none of them.
		_, err = put(c2.CheckpointID, map[string]any{"m": []string{"z"}, "new": "n"}, map[string]string{"new": "1", "m": "2"})
		if !errors.Is(err, ckpt.ErrVersionReused) {
			t.Fatal(err)
		}
		if _, err := put(c2.CheckpointID, map[string]any{"new": "other"}, map[string]string{"new": "1"}); err != nil {
			t.Fatalf("the refused put left channel new version 1 behind: %v", err)
		}
		wantState(t, s, "t", c2.CheckpointID, map[string]any{"m": []any{"a", "b", "c"}})
	}
}

// Forks in the simple API: Save with WriteOptions.Parent.
func TestSaveForkWithParent(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	c1 := save(t, s, "t", map[string]any{"x": "first"}, "")
	c2 := save(t, s, "t", map[string]any{"x": "second"}, "")
	c3 := save(t, s, "t", map[string]any{"x": "fork"}, c1)
	snap, err := s.Load(ctx, "t", c3)
	if err != nil {
		t.Fatal(err)
	}
	if snap.ParentID != c1 {
		t.Fatalf("fork's parent is %s, want %s", snap.ParentID, c1)
	}
	wantState(t, s, "t", c3, map[string]any{"x": "fork"})
	wantState(t, s, "t", c2, map[string]any{"x": "second"})
	wantState(t, s, "t", c1, map[string]any{"x": "first"})
	// A fork that keeps the parent's value shares its version.
	c4 := save(t, s, "t", map[string]any{"x": "first", "y": 1}, c1)
	wantState(t, s, "t", c4, map[string]any{"x": "first", "y": int64(1)})
	c5 := save(t, s, "t", map[string]any{"x": "next"}, "") // continues the newest: c4
	if snap, _ := s.Load(ctx, "t", c5); snap.ParentID != c4 {
		t.Fatalf("save after a fork has parent %s, want the fork %s", snap.ParentID, c4)
	}

	ids := func(seq func(func(*ckpt.Snapshot, error) bool)) []string {
		var out []string
		for snap, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, snap.CheckpointID)
		}
		return out
	}
	if got, want := ids(s.History(ctx, "t", ckpt.ListOptions{})), []string{c5, c4, c1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("History %v, want the newest branch %v", got, want)
	}
	if got, want := ids(s.HistoryFrom(ctx, "t", c2, ckpt.ListOptions{})), []string{c2, c1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("HistoryFrom %v, want %v", got, want)
	}
	if got, want := ids(s.History(ctx, "t", ckpt.ListOptions{Limit: 2})), []string{c5, c4}; !reflect.DeepEqual(got, want) {
		t.Fatalf("History Limit 2: %v, want %v", got, want)
	}
	if got, want := ids(s.History(ctx, "t", ckpt.ListOptions{Before: c4})), []string{c1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("History Before: %v, want %v", got, want)
	}
	branches, err := s.Branches(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	var tips []string
	for _, b := range branches {
		tips = append(tips, b.CheckpointID)
	}
	if want := []string{c5, c3, c2}; !reflect.DeepEqual(tips, want) {
		t.Fatalf("Branches %v, want %v", tips, want)
	}
	if _, err := s.Save(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: "01ARZ3NDEKTSV4RRFFQ69G5FAV"}), "t", map[string]any{"x": 1}, nil); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("fork from an unknown checkpoint: %v, want ErrNotFound", err)
	}
	for _, err := range s.HistoryFrom(ctx, "t", "01ARZ3NDEKTSV4RRFFQ69G5FAV", ckpt.ListOptions{}) {
		if !errors.Is(err, ckpt.ErrNotFound) {
			t.Fatalf("HistoryFrom an unknown checkpoint: %v", err)
		}
	}
	if got := ids(s.History(ctx, "nobody", ckpt.ListOptions{})); len(got) != 0 {
		t.Fatalf("History of an unknown thread: %v", got)
	}
	// IfHead with a Parent that is not the head is still a conflict.
	if _, err := s.Save(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true, Parent: c1}), "t", map[string]any{"x": 1}, nil); !errors.Is(err, ckpt.ErrConflict) {
		t.Fatalf("IfHead on a non-head parent: %v", err)
	}
}

// A fork in the simple API re-adding a changed channel: the parent's
// counter would give the same version as the other branch's change.
func TestSaveForkDoesNotReadOtherBranch(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	c1 := save(t, s, "t", map[string]any{"x": "A"}, "")
	c2 := save(t, s, "t", map[string]any{"x": "B"}, "")
	c3 := save(t, s, "t", map[string]any{"x": "C"}, c1)
	wantState(t, s, "t", c3, map[string]any{"x": "C"})
	wantState(t, s, "t", c2, map[string]any{"x": "B"})
}

// Re-add after GC: the version a removed checkpoint used survives while a
// kept one reads it, and a re-added channel must not pick it up.
func TestSaveReAddAfterGC(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	save(t, s, "t", map[string]any{"x": "A", "k": 1}, "")
	save(t, s, "t", map[string]any{"x": "A", "k": 2}, "")
	save(t, s, "t", map[string]any{"k": 3}, "")
	if _, err := s.GC(ctx, ckpt.Policy{KeepLast: 2}); err != nil {
		t.Fatal(err)
	}
	c4 := save(t, s, "t", map[string]any{"x": "B", "k": 3}, "")
	wantState(t, s, "t", c4, map[string]any{"x": "B", "k": int64(3)})
	if _, err := s.GC(ctx, ckpt.Policy{KeepLast: 1}); err != nil {
		t.Fatal(err)
	}
	c5 := save(t, s, "t", map[string]any{"x": "C", "k": 3}, "")
	wantState(t, s, "t", c5, map[string]any{"x": "C", "k": int64(3)})
	wantState(t, s, "t", c4, map[string]any{"x": "B", "k": int64(3)})
}

// Issue 14 item 5: a decode into the wrong Go type is ErrDecode naming the
// channel, the stored kind and the target type, not ErrCorrupt.
func TestDecodeWrongTypeIsErrDecode(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	id := save(t, s, "t", map[string]any{"name": "ada", "tags": []string{"a"}}, "")
	snap, err := s.Load(ctx, "t", id)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	err = snap.Decode("name", &n)
	if !errors.Is(err, ckpt.ErrDecode) || errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("string into int: %v, want ErrDecode and not ErrCorrupt", err)
	}
	for _, part := range []string{`"name"`, "string", "int"} {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("%q does not name %s", err, part)
		}
	}
	var st struct{ A int }
	if err := snap.Decode("tags", &st); !errors.Is(err, ckpt.ErrDecode) || !strings.Contains(err.Error(), "list") {
		t.Fatalf("list into struct: %v", err)
	}
	if err := snap.Decode("name", n); !errors.Is(err, ckpt.ErrDecode) || !strings.Contains(err.Error(), "not a pointer") {
		t.Fatalf("non-pointer target: %v", err)
	}
	tup, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tup.Decode("name", &n); !errors.Is(err, ckpt.ErrDecode) || !strings.Contains(err.Error(), `"name"`) {
		t.Fatalf("Tuple.Decode: %v", err)
	}
	// Bytes that are not one msgpack value are still ErrCorrupt. (The
	// empty Raw is not among them: it is nil, what msgpack leaves in a
	// Raw field whose value is nil; raw_value_test.go.)
	for _, raw := range []ckpt.Raw{{0xc1}, {0xa5, 'a'}, {0x92, 0x01}} {
		if err := raw.Decode(&n); !errors.Is(err, ckpt.ErrCorrupt) || errors.Is(err, ckpt.ErrDecode) {
			t.Fatalf("damaged %x: %v, want ErrCorrupt", []byte(raw), err)
		}
	}
	var s2 string
	if err := snap.Decode("name", &s2); err != nil || s2 != "ada" {
		t.Fatal(s2, err)
	}
}
