package checkpointtest

// The kit's read cases: GetTuple (latest and by id) and List (order,
// selectors, before/limit, metadata filters).

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
)

func testGetTuple(t *testing.T, s ckpt.Saver) {
	parent := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "g"}, ckpt.Checkpoint{
		ChannelValues: map[string]any{"x": "x1", "y": "y1"}, ChannelVersions: map[string]string{"x": "1", "y": "1"},
	}, ckpt.Metadata{"step": 0}, map[string]string{"x": "1", "y": "1"}))
	child := must(t).cfg(s.Put(ctx, parent, ckpt.Checkpoint{
		ChannelValues: map[string]any{"x": "x2"}, ChannelVersions: map[string]string{"x": "2", "y": "1"},
	}, ckpt.Metadata{"step": 1}, map[string]string{"x": "2"}))

	byParent := must(t).tuple(s.GetTuple(ctx, parent))
	if byParent.Config != parent || byParent.ParentConfig != nil {
		t.Fatalf("by parent id: %+v parent %+v", byParent.Config, byParent.ParentConfig)
	}
	byChild := must(t).tuple(s.GetTuple(ctx, child))
	if byChild.ParentConfig == nil || *byChild.ParentConfig != parent {
		t.Fatalf("child's parent config %+v, want %+v", byChild.ParentConfig, parent)
	}
	if got := values(t, byChild); !reflect.DeepEqual(got, map[string]any{"x": "x2", "y": "y1"}) {
		t.Fatalf("child values %v", got)
	}
	latest := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "g"}))
	if latest.Config != child {
		t.Fatalf("latest %+v, want %+v", latest.Config, child)
	}
	var x string
	if err := latest.Decode("x", &x); err != nil || x != "x2" {
		t.Fatalf("Decode x = %q, %v", x, err)
	}
	if err := latest.Decode("missing", &x); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("Decode missing channel: %v", err)
	}

	for _, c := range []ckpt.Config{
		{ThreadID: "unknown"},
		{ThreadID: "g", CheckpointNS: "other"},
		{ThreadID: "g", CheckpointID: "01ARZ3NDEKTSV4RRFFQ69G5FAV"},
		{ThreadID: "unknown", CheckpointID: parent.CheckpointID},
		{ThreadID: "g", CheckpointNS: "other", CheckpointID: parent.CheckpointID}, // its id, another namespace
	} {
		if _, err := s.GetTuple(ctx, c); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("GetTuple(%+v): err = %v, want ErrNotFound", c, err)
		}
	}
	for _, c := range []ckpt.Config{{}, {ThreadID: "g", CheckpointID: "malformed"}} {
		if _, err := s.GetTuple(ctx, c); !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Errorf("GetTuple(%+v): err = %v, want ErrInvalidConfig", c, err)
		}
	}
}

// listFixture is 2 threads x namespaces {"", "child"} x {parent, child}.
type listFixture struct {
	all []ckpt.Config // every stored config
	// ids by thread, namespace and role
	id map[string]string // "thread|ns|role" -> id
	md map[string]ckpt.Metadata
}

func buildListFixture(t *testing.T, s ckpt.Saver) *listFixture {
	f := &listFixture{id: map[string]string{}, md: map[string]ckpt.Metadata{}}
	for _, thread := range []string{"thread-1", "thread-2"} {
		for _, ns := range []string{"", "child"} {
			var parent ckpt.Config
			for _, role := range []string{"parent", "child"} {
				source := "input"
				if role == "child" {
					source = "loop"
				}
				md := ckpt.Metadata{"source": source, "step": map[string]int{"parent": -1, "child": 0}[role], "thread": thread, "ns": ns}
				cfg := ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent.CheckpointID}
				got := must(t).cfg(s.Put(ctx, cfg, emptyCheckpoint(), md, nil))
				f.all = append(f.all, got)
				f.id[thread+"|"+ns+"|"+role] = got.CheckpointID
				f.md[got.CheckpointID] = md
				parent = got
			}
		}
	}
	return f
}

func testList(t *testing.T, s ckpt.Saver) {
	f := buildListFixture(t, s)
	threads := []string{"", "thread-1", "unknown"}
	namespaces := []*string{nil, ckpt.NS(""), ckpt.NS("child")}
	limits := []int{0, 1, 2}
	befores := []string{"", "parent", "child"}
	filters := []map[string]any{nil, {}, {"source": "input"}, {"source": "loop"}}

	for _, thread := range threads {
		for _, ns := range namespaces {
			for _, limit := range limits {
				for _, before := range befores {
					for fi, filter := range filters {
						nsName := "unset"
						if ns != nil {
							nsName = fmt.Sprintf("%q", *ns)
						}
						name := fmt.Sprintf("thread=%q/ns=%s/limit=%d/before=%s/filter=%d", thread, nsName, limit, before, fi)
						// "before" names the parent or child checkpoint of thread-1's root namespace.
						var beforeID string
						if before != "" {
							beforeID = f.id["thread-1||"+before]
						}
						// Expected: every stored config that matches, newest first.
						var want []string
						for i := len(f.all) - 1; i >= 0; i-- {
							c := f.all[i]
							if thread != "" && c.ThreadID != thread {
								continue
							}
							if ns != nil && c.CheckpointNS != *ns {
								continue
							}
							if beforeID != "" && c.CheckpointID >= beforeID {
								continue
							}
							if src, ok := filter["source"]; ok && f.md[c.CheckpointID]["source"] != src {
								continue
							}
							want = append(want, c.CheckpointID)
						}
						if limit > 0 && len(want) > limit {
							want = want[:limit]
						}
						var got []string
						for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread, Namespace: ns, Limit: limit, Before: beforeID, Filter: filter}) {
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							got = append(got, tp.Config.CheckpointID)
							if !reflect.DeepEqual(tp.Metadata, normalize(t, f.md[tp.Config.CheckpointID])) {
								t.Fatalf("%s: metadata %v", name, tp.Metadata)
							}
						}
						if !slices.Equal(got, want) {
							t.Errorf("%s:\n got %v\nwant %v", name, got, want)
						}
					}
				}
			}
		}
	}

	t.Run("bad options are errors", func(t *testing.T) {
		for _, o := range []ckpt.ListOptions{{Before: "nope"}, {Limit: -1}} {
			n := 0
			for _, err := range s.List(ctx, o) {
				n++
				if !errors.Is(err, ckpt.ErrInvalidConfig) {
					t.Errorf("%+v: err = %v, want ErrInvalidConfig", o, err)
				}
			}
			if n != 1 {
				t.Errorf("%+v: %d results, want one error", o, n)
			}
		}
	})
	t.Run("stopping early is allowed", func(t *testing.T) {
		for range s.List(ctx, ckpt.ListOptions{}) {
			break
		}
	})
}

// normalize gives md the shapes stored metadata decodes to (ints as int64,
// ...), as saverkit defines them for every Saver.
func normalize(t *testing.T, md ckpt.Metadata) ckpt.Metadata {
	t.Helper()
	m, err := saverkit.NormalizeFilter(md)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testListFilterValues(t *testing.T, s ckpt.Saver) {
	md := ckpt.Metadata{
		"step":    int64(3),
		"score":   0.5,
		"parents": map[string]any{"": "abc", "sub": "def"},
		"tags":    []any{"a", "b"},
		"writes":  map[string]any{"agent": map[string]any{"n": int64(1)}},
	}
	c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "f"}, emptyCheckpoint(), md, nil))
	cases := []struct {
		filter map[string]any
		match  bool
	}{
		{map[string]any{"step": 3}, true},
		{map[string]any{"step": uint8(3)}, true},
		{map[string]any{"step": 3.0}, true},
		{map[string]any{"step": 4}, false},
		{map[string]any{"score": float32(0.5)}, true},
		{map[string]any{"parents": map[string]any{"": "abc"}}, true},
		{map[string]any{"parents": map[string]string{"sub": "def"}}, true},
		{map[string]any{"parents": map[string]any{"": "xyz"}}, false},
		{map[string]any{"writes": map[string]any{"agent": map[string]any{"n": 1}}}, true},
		{map[string]any{"tags": []string{"a", "b"}}, true},
		{map[string]any{"tags": []string{"a"}}, false},
		{map[string]any{"missing": nil}, false},
		{map[string]any{"step": "3"}, false},
	}
	for _, tc := range cases {
		var got []string
		for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "f", Filter: tc.filter}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, tp.Config.CheckpointID)
		}
		if match := slices.Equal(got, []string{c.CheckpointID}); match != tc.match {
			t.Errorf("filter %v: matched=%v, want %v", tc.filter, match, tc.match)
		}
	}
}
