// Package checkpointtest is the conformance kit for ckpt.Saver
// implementations: Run checks every behaviour of the contract (LangGraph's
// checkpointer semantics) against a fresh saver per test.
//
//	func TestConformance(t *testing.T) {
//		checkpointtest.Run(t, func(t *testing.T) ckpt.Saver { return newMySaver(t) })
//	}
package checkpointtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// NewSaver returns a fresh, empty saver for one test. It registers its own
// cleanup with t.Cleanup.
type NewSaver func(t *testing.T) ckpt.Saver

// Run runs every conformance test as a subtest of t.
func Run(t *testing.T, newSaver NewSaver) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s ckpt.Saver)
	}{
		{"Put", testPut},
		{"PutOnlyChangedChannels", testOnlyChangedChannels},
		{"PutVersionNamesOneValue", testVersionNamesOneValue},
		{"PutIfHeadSentAgain", testIfHeadSentAgain},
		{"PutTypedMapsSentAgain", testTypedMapsSentAgain},
		{"PutMetadataMapKeys", testMetadataKeys},
		{"PutWrites", testPutWrites},
		{"GetTuple", testGetTuple},
		{"List", testList},
		{"ListFilterNumbersAndNested", testListFilterValues},
		{"DeleteThread", testDeleteThread},
		{"CopyThread", testCopyThread},
		{"PruneKeepLatest", testPruneKeepLatest},
		{"PruneDelete", testPruneDelete},
		{"DeleteForRuns", testDeleteForRuns},
	}
	for _, tc := range append(tests, integrityTests...) {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newSaver(t)) })
	}
}

var ctx = context.Background()

// req fails the test on an unexpected error and returns the value.
type req struct{ t *testing.T }

func (r req) ok(err error) {
	r.t.Helper()
	if err != nil {
		r.t.Fatalf("unexpected error: %v", err)
	}
}

func (r req) cfg(c ckpt.Config, err error) ckpt.Config {
	r.t.Helper()
	r.ok(err)
	return c
}

func (r req) tuple(tp *ckpt.Tuple, err error) *ckpt.Tuple {
	r.t.Helper()
	r.ok(err)
	return tp
}

func (r req) val(v any, err error) any {
	r.t.Helper()
	r.ok(err)
	return v
}

// decode decodes a stored value generically.
func decode(t *testing.T, v any) any {
	t.Helper()
	raw, ok := v.(ckpt.Raw)
	if !ok {
		t.Fatalf("stored value is %T, want ckpt.Raw", v)
	}
	return must(t).val(raw.Value())
}

func values(t *testing.T, tp *ckpt.Tuple) map[string]any {
	t.Helper()
	out := map[string]any{}
	for ch, v := range tp.Checkpoint.ChannelValues {
		out[ch] = decode(t, v)
	}
	return out
}

func emptyCheckpoint() ckpt.Checkpoint {
	return ckpt.Checkpoint{V: 4, ChannelValues: map[string]any{}, ChannelVersions: map[string]string{}, VersionsSeen: map[string]map[string]string{}}
}

func testPut(t *testing.T, s ckpt.Saver) {
	cp := ckpt.Checkpoint{
		V:               4,
		TS:              time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		ChannelValues:   map[string]any{"messages": []any{"hi", "there"}, "count": int64(3)},
		ChannelVersions: map[string]string{"messages": "1", "count": "1"},
		VersionsSeen:    map[string]map[string]string{"agent": {"messages": "1"}},
	}
	meta := ckpt.Metadata{"source": "input", "step": int64(-1), "parents": map[string]any{}, "node": "start"}
	cfg := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "t1"}, cp, meta, map[string]string{"messages": "1", "count": "1"}))

	t.Run("returns the new config with default namespace", func(t *testing.T) {
		if cfg.ThreadID != "t1" || cfg.CheckpointNS != "" || cfg.CheckpointID == "" {
			t.Fatalf("config = %+v", cfg)
		}
	})
	t.Run("stored checkpoint and metadata equal what was put", func(t *testing.T) {
		got := must(t).tuple(s.GetTuple(ctx, cfg))
		if got.Config != cfg {
			t.Fatalf("config %+v, want %+v", got.Config, cfg)
		}
		if got.Checkpoint.ID != cfg.CheckpointID || got.Checkpoint.V != 4 || !got.Checkpoint.TS.Equal(cp.TS) {
			t.Fatalf("checkpoint header %+v", got.Checkpoint)
		}
		want := map[string]any{"messages": []any{"hi", "there"}, "count": int64(3)}
		if v := values(t, got); !reflect.DeepEqual(v, want) {
			t.Fatalf("values %#v, want %#v", v, want)
		}
		if !reflect.DeepEqual(got.Checkpoint.ChannelVersions, cp.ChannelVersions) || !reflect.DeepEqual(got.Checkpoint.VersionsSeen, cp.VersionsSeen) {
			t.Fatalf("versions %v / %v", got.Checkpoint.ChannelVersions, got.Checkpoint.VersionsSeen)
		}
		if !reflect.DeepEqual(got.Metadata, meta) {
			t.Fatalf("metadata %#v, want %#v", got.Metadata, meta)
		}
		if got.ParentConfig != nil {
			t.Fatalf("first checkpoint has parent %+v", got.ParentConfig)
		}
	})
	t.Run("given id is kept", func(t *testing.T) {
		cp2 := emptyCheckpoint()
		cp2.ID = "01JABCDEFGHJKMNPQRSTVWXYZ0"
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "t-given"}, cp2, nil, nil))
		if c.CheckpointID != cp2.ID {
			t.Fatalf("id %q, want %q", c.CheckpointID, cp2.ID)
		}
	})
	t.Run("generated ids increase", func(t *testing.T) {
		prev := cfg
		for range 50 {
			c := must(t).cfg(s.Put(ctx, prev, emptyCheckpoint(), nil, nil))
			if c.CheckpointID <= prev.CheckpointID {
				t.Fatalf("id %s not after %s", c.CheckpointID, prev.CheckpointID)
			}
			prev = c
		}
	})
	t.Run("bad config is rejected and writes nothing", func(t *testing.T) {
		bad := []struct {
			name string
			cfg  ckpt.Config
			id   string
		}{
			{"missing thread", ckpt.Config{}, ""},
			{"malformed parent", ckpt.Config{ThreadID: "t-bad", CheckpointID: "nope"}, ""},
			{"malformed id", ckpt.Config{ThreadID: "t-bad"}, "not-a-ulid"},
			{"thread too long", ckpt.Config{ThreadID: string(make([]byte, ckpt.MaxThreadIDLen+1))}, ""},
			{"namespace too long", ckpt.Config{ThreadID: "t-bad", CheckpointNS: string(make([]byte, ckpt.MaxNamespaceLen+1))}, ""},
		}
		for _, b := range bad {
			cp := emptyCheckpoint()
			cp.ID = b.id
			if _, err := s.Put(ctx, b.cfg, cp, nil, nil); !errors.Is(err, ckpt.ErrInvalidConfig) {
				t.Errorf("%s: err = %v, want ErrInvalidConfig", b.name, err)
			}
		}
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t-bad"}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Fatalf("rejected put left data behind: %v", err)
		}
	})
	t.Run("a checkpoint cannot be its own parent", func(t *testing.T) {
		first := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "t-self"}, emptyCheckpoint(), ckpt.Metadata{"step": int64(1)}, nil))
		cp := emptyCheckpoint()
		cp.ID = first.CheckpointID
		if _, err := s.Put(ctx, first, cp, ckpt.Metadata{"step": int64(2)}, nil); !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Fatalf("err = %v, want ErrInvalidConfig", err)
		}
		got := must(t).tuple(s.GetTuple(ctx, first))
		if got.ParentConfig != nil || got.Metadata["step"] != int64(1) {
			t.Fatalf("refused put changed the checkpoint: parent %+v, metadata %v", got.ParentConfig, got.Metadata)
		}
	})
	t.Run("unencodable value names the channel", func(t *testing.T) {
		cp := emptyCheckpoint()
		cp.ChannelValues["bad"] = map[string]any{"fn": func() {}}
		_, err := s.Put(ctx, ckpt.Config{ThreadID: "t-enc"}, cp, nil, map[string]string{"bad": "1"})
		if !errors.Is(err, ckpt.ErrEncode) {
			t.Fatalf("err = %v, want ErrEncode", err)
		}
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t-enc"}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Fatalf("failed put left data behind: %v", err)
		}
	})
	t.Run("a timestamp a nanosecond count cannot hold is refused", func(t *testing.T) {
		// A checkpoint's TS is stored as nanoseconds since 1970 (an int64:
		// the years 1678 to 2262). The year 3000 was acknowledged and read
		// back as 1830, with no error.
		for i, ts := range []time.Time{time.Date(3000, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(1000, 1, 2, 3, 4, 5, 0, time.UTC)} {
			thread := fmt.Sprint("t-ts-", i)
			cp := emptyCheckpoint()
			cp.TS = ts
			if _, err := s.Put(ctx, ckpt.Config{ThreadID: thread}, cp, nil, nil); !errors.Is(err, ckpt.ErrInvalidConfig) {
				t.Errorf("TS %v: err = %v, want ErrInvalidConfig", ts, err)
			}
			if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread}); !errors.Is(err, ckpt.ErrNotFound) {
				t.Errorf("refused put left data behind: %v", err)
			}
		}
		// The edges of the range are kept to the nanosecond, in UTC.
		for i, ts := range []time.Time{time.Unix(0, math.MinInt64+1), time.Unix(0, math.MaxInt64), time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))} {
			cp := emptyCheckpoint()
			cp.TS = ts
			cfg := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: fmt.Sprint("t-ts-edge-", i)}, cp, nil, nil))
			if got := must(t).tuple(s.GetTuple(ctx, cfg)).Checkpoint.TS; !got.Equal(ts) {
				t.Errorf("TS %v read back as %v", ts, got)
			}
		}
	})
	t.Run("a Raw that is not one msgpack value is refused", func(t *testing.T) {
		// A Raw is stored as is: text handed as a Raw, in a channel or
		// nested, must not be acknowledged and then read as damage.
		for i, v := range []any{ckpt.Raw("text"), map[string]any{"a": ckpt.Raw{0x92, 0x01}}} {
			thread := fmt.Sprint("t-raw-", i)
			cp := emptyCheckpoint()
			cp.ChannelValues["bad"] = v
			cp.ChannelVersions = map[string]string{"bad": "1"}
			if _, err := s.Put(ctx, ckpt.Config{ThreadID: thread}, cp, nil, map[string]string{"bad": "1"}); !errors.Is(err, ckpt.ErrEncode) {
				t.Errorf("%x: err = %v, want ErrEncode", v, err)
			}
			if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread}); !errors.Is(err, ckpt.ErrNotFound) {
				t.Errorf("refused put left data behind: %v", err)
			}
		}
	})
}

func testMetadataKeys(t *testing.T, s ckpt.Saver) {
	// Metadata reads back as map[string]any, maps inside it too: one keyed
	// by ints must be refused at Put, not acknowledged and then unreadable.
	for i, md := range []ckpt.Metadata{
		{"m": map[int]string{1: "a"}},
		{"l": []any{map[any]any{"a": 1, 2: "b"}}},
	} {
		thread := fmt.Sprint("t-mdkey-", i)
		_, err := s.Put(ctx, ckpt.Config{ThreadID: thread}, emptyCheckpoint(), md, nil)
		if !errors.Is(err, ckpt.ErrEncode) {
			t.Errorf("metadata %v: err = %v, want ErrEncode", md, err)
		}
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("refused put left data behind: %v", err)
		}
	}
}

func testOnlyChangedChannels(t *testing.T, s ckpt.Saver) {
	cp := ckpt.Checkpoint{
		V:               4,
		ChannelValues:   map[string]any{"foo": "foo-v", "baz": "baz-v"},
		ChannelVersions: map[string]string{"foo": "1", "baz": "1"},
	}
	cases := []struct {
		newVersions map[string]string
		want        map[string]any
	}{
		{map[string]string{}, map[string]any{}},
		{map[string]string{"foo": "1"}, map[string]any{"foo": "foo-v"}},
		{map[string]string{"foo": "1", "baz": "1"}, map[string]any{"foo": "foo-v", "baz": "baz-v"}},
	}
	for i, c := range cases {
		thread := fmt.Sprintf("changed-%d", i)
		cfg := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: thread}, cp, nil, c.newVersions))
		if got := values(t, must(t).tuple(s.GetTuple(ctx, cfg))); !reflect.DeepEqual(got, c.want) {
			t.Errorf("newVersions %v: values %v, want %v", c.newVersions, got, c.want)
		}
	}

	t.Run("unchanged channel carries over", func(t *testing.T) {
		first := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "carry"}, ckpt.Checkpoint{
			ChannelValues:   map[string]any{"a": "a1", "b": "b1"},
			ChannelVersions: map[string]string{"a": "1", "b": "1"},
		}, nil, map[string]string{"a": "1", "b": "1"}))
		second := must(t).cfg(s.Put(ctx, first, ckpt.Checkpoint{
			ChannelValues:   map[string]any{"b": "b2"},
			ChannelVersions: map[string]string{"a": "1", "b": "2"},
		}, nil, map[string]string{"b": "2"}))
		want := map[string]any{"a": "a1", "b": "b2"}
		if got := values(t, must(t).tuple(s.GetTuple(ctx, second))); !reflect.DeepEqual(got, want) {
			t.Fatalf("values %v, want %v", got, want)
		}
		if got := values(t, must(t).tuple(s.GetTuple(ctx, first))); !reflect.DeepEqual(got, map[string]any{"a": "a1", "b": "b1"}) {
			t.Fatalf("first checkpoint changed: %v", got)
		}
	})
	t.Run("newVersions disagreeing with ChannelVersions is refused", func(t *testing.T) {
		// LangGraph's new_versions are the changed entries of the
		// checkpoint's channel_versions, so they always agree. A Put where
		// they do not would store the value under one version and name
		// another: it is refused before anything is written, never
		// acknowledged and then unreadable.
		first := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "disagree"}, ckpt.Checkpoint{
			ChannelValues:   map[string]any{"a": "a1"},
			ChannelVersions: map[string]string{"a": "1"},
		}, nil, map[string]string{"a": "1"}))
		for _, parent := range []ckpt.Config{{ThreadID: "disagree"}, first} {
			_, err := s.Put(ctx, parent, ckpt.Checkpoint{
				ChannelValues:   map[string]any{"a": "a2"},
				ChannelVersions: map[string]string{"a": "3"},
			}, nil, map[string]string{"a": "2"})
			if !errors.Is(err, ckpt.ErrInvalidConfig) {
				t.Fatalf("parent %q: err = %v, want ErrInvalidConfig", parent.CheckpointID, err)
			}
			for _, want := range []string{`"a"`, `"2"`, `"3"`} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
		}
		head := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "disagree"}))
		if head.Config != first {
			t.Fatalf("head %+v after refused puts, want %+v", head.Config, first)
		}
		// Nothing was stored under version 2: it is still free.
		c := must(t).cfg(s.Put(ctx, first, ckpt.Checkpoint{
			ChannelValues:   map[string]any{"a": "other"},
			ChannelVersions: map[string]string{"a": "2"},
		}, nil, map[string]string{"a": "2"}))
		if got := values(t, must(t).tuple(s.GetTuple(ctx, c))); !reflect.DeepEqual(got, map[string]any{"a": "other"}) {
			t.Fatalf("values %v", got)
		}
	})
	t.Run("a channel named without a value reads as absent", func(t *testing.T) {
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "empty-chan"}, ckpt.Checkpoint{
			ChannelValues:   map[string]any{},
			ChannelVersions: map[string]string{"gone": "1"},
		}, nil, map[string]string{"gone": "1"}))
		if got := values(t, must(t).tuple(s.GetTuple(ctx, c))); len(got) != 0 {
			t.Fatalf("values %v, want none", got)
		}
	})
}

// testVersionNamesOneValue: a (channel, version) names one value for ever.
// Storing a different value under a stored version (a fork that reuses the
// "natural" next version) is a *ckpt.VersionConflictError matching
// ckpt.ErrVersionReused and writes nothing; the same value again is fine.
func testVersionNamesOneValue(t *testing.T, s ckpt.Saver) {
	put := func(parent ckpt.Config, vals map[string]any, versions map[string]string) (ckpt.Config, error) {
		return s.Put(ctx, parent, ckpt.Checkpoint{ChannelValues: vals, ChannelVersions: versions}, nil, versions)
	}
	root := ckpt.Config{ThreadID: "ver"}
	first := must(t).cfg(put(root, map[string]any{"x": "first", "l": []any{"a"}}, map[string]string{"x": "1", "l": "1"}))
	second := must(t).cfg(put(first, map[string]any{"x": "second", "l": []any{"a", "b"}}, map[string]string{"x": "2", "l": "2"}))
	count := func() int {
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "ver"}) {
			must(t).ok(err)
			n++
		}
		return n
	}

	t.Run("a different value under a stored version is refused", func(t *testing.T) {
		for _, c := range []struct {
			vals     map[string]any
			versions map[string]string
		}{
			{map[string]any{"x": "fork", "y": "new"}, map[string]string{"x": "2", "y": "1"}},
			{map[string]any{"l": []any{"a", "c"}, "y": "new"}, map[string]string{"l": "2", "y": "1"}},
			// x named without a value: an empty channel is different too.
			{map[string]any{"y": "new"}, map[string]string{"x": "2", "y": "1"}},
		} {
			vals, versions := c.vals, c.versions
			_, err := put(first, vals, versions)
			var vc *ckpt.VersionConflictError
			if !errors.Is(err, ckpt.ErrVersionReused) || !errors.As(err, &vc) {
				t.Fatalf("put %v under version 2: %v, want ErrVersionReused", vals, err)
			}
			if vc.Thread != "ver" || vc.NS != "" || vc.Version != "2" || (vc.Channel != "x" && vc.Channel != "l") {
				t.Fatalf("the error names %+v", *vc)
			}
			if n := count(); n != 2 {
				t.Fatalf("%d checkpoints after a refused put, want 2", n)
			}
		}
		want := map[string]any{"x": "second", "l": []any{"a", "b"}}
		if got := values(t, must(t).tuple(s.GetTuple(ctx, second))); !reflect.DeepEqual(got, want) {
			t.Fatalf("second checkpoint reads %v, want %v", got, want)
		}
		// Nothing of the refused puts was stored: y version 1 is still free.
		c := must(t).cfg(put(first, map[string]any{"x": "first", "y": "other"}, map[string]string{"x": "1", "y": "1"}))
		if got := values(t, must(t).tuple(s.GetTuple(ctx, c))); !reflect.DeepEqual(got, map[string]any{"x": "first", "y": "other"}) {
			t.Fatalf("after the refused puts: %v", got)
		}
	})
	t.Run("the same value under a stored version is shared", func(t *testing.T) {
		c := must(t).cfg(put(first, map[string]any{"x": "second", "l": []any{"a", "b"}}, map[string]string{"x": "2", "l": "2"}))
		want := map[string]any{"x": "second", "l": []any{"a", "b"}}
		if got := values(t, must(t).tuple(s.GetTuple(ctx, c))); !reflect.DeepEqual(got, want) {
			t.Fatalf("values %v, want %v", got, want)
		}
	})
	t.Run("a fork under new versions reads its own values", func(t *testing.T) {
		c := must(t).cfg(put(first, map[string]any{"x": "fork", "l": []any{"a"}}, map[string]string{"x": "3", "l": "1"}))
		want := map[string]any{"x": "fork", "l": []any{"a"}}
		if got := values(t, must(t).tuple(s.GetTuple(ctx, c))); !reflect.DeepEqual(got, want) {
			t.Fatalf("values %v, want %v", got, want)
		}
	})
}

// testTypedMapsSentAgain: a put sent again with the same values succeeds
// when a value or the metadata holds a map of another type than
// map[string]any, map[string]string or map[string]bool (map[string]int,
// map[int]string, such a map inside a map[string]any): equal values are
// equal bytes, so the stored (channel, version) and the stored record
// match (ErrVersionReused and, with IfHead, ErrConflict said otherwise
// whenever Go's map order differed between the two encodings).
func testTypedMapsSentAgain(t *testing.T, s ckpt.Saver) {
	counts, names := map[string]int{}, map[int]string{}
	for i := range 16 {
		counts[fmt.Sprint("k", i)] = i
		names[i] = fmt.Sprint("v", i)
	}
	cp := ckpt.Checkpoint{
		V: 4, ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV",
		TS:              time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		ChannelValues:   map[string]any{"counts": counts, "names": names, "nested": map[string]any{"in": counts}},
		ChannelVersions: map[string]string{"counts": "1", "names": "1", "nested": "1"},
	}
	meta := ckpt.Metadata{"counts": counts}
	nv := map[string]string{"counts": "1", "names": "1", "nested": "1"}
	cas := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
	var first ckpt.Config
	for i := range 8 {
		c := ctx
		if i%2 == 1 {
			c = cas
		}
		got, err := s.Put(c, ckpt.Config{ThreadID: "typed"}, cp, meta, nv)
		if err != nil {
			t.Fatalf("put %d of the same checkpoint: %v", i, err)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("put %d: %+v, want %+v", i, got, first)
		}
	}
	tp := must(t).tuple(s.GetTuple(ctx, first))
	var back map[string]int
	if err := tp.Decode("counts", &back); err != nil || !reflect.DeepEqual(back, counts) {
		t.Fatalf("counts read back %v (%v), want %v", back, err, counts)
	}
}

// testIfHeadSentAgain: a caller that lost the reply of a compare-and-set
// put and sends the same put again (same checkpoint id, record, metadata
// and values) finds it applied: that is success, as for a put without
// IfHead, not ErrConflict, wherever the head is now, and even when its
// parent was deleted since (not ErrNotFound). An error would say that
// nothing was written, while the checkpoint it names is there (and other
// workers may build on it). The same id with other content is another
// put: ErrConflict.
func testIfHeadSentAgain(t *testing.T, s ckpt.Saver) {
	cas := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
	root := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "again"}, emptyCheckpoint(), ckpt.Metadata{"run_id": "root-run"}, nil))
	cp := ckpt.Checkpoint{
		V: 4, ID: "02ABCDEFGHJKMNPQRSTVWXYZ01", // after the root's generated id
		TS:              time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		ChannelValues:   map[string]any{"x": "v"},
		ChannelVersions: map[string]string{"x": "1"},
		VersionsSeen:    map[string]map[string]string{"n": {"x": "1"}},
	}
	meta := ckpt.Metadata{"step": int64(1)}
	put := func(ctx context.Context, md ckpt.Metadata) (ckpt.Config, error) {
		return s.Put(ctx, root, cp, md, map[string]string{"x": "1"})
	}
	first := must(t).cfg(put(cas, meta))
	count := func() int {
		n := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "again"}) {
			must(t).ok(err)
			n++
		}
		return n
	}
	check := func(t *testing.T, when string, wantN int, wantHead ckpt.Config) {
		t.Helper()
		if n := count(); n != wantN {
			t.Fatalf("%s: %d checkpoints, want %d", when, n, wantN)
		}
		head := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "again"}))
		if head.Config != wantHead {
			t.Fatalf("%s: head %+v, want %+v", when, head.Config, wantHead)
		}
		got := must(t).tuple(s.GetTuple(ctx, first))
		if !reflect.DeepEqual(got.Metadata, meta) || !reflect.DeepEqual(values(t, got), map[string]any{"x": "v"}) {
			t.Fatalf("%s: the checkpoint reads %v %v", when, got.Metadata, values(t, got))
		}
	}

	t.Run("the same put sent again succeeds and stores nothing more", func(t *testing.T) {
		c, err := put(cas, meta)
		if err != nil || c != first {
			t.Fatalf("sent again: %+v, %v; want %+v, nil", c, err, first)
		}
		check(t, "sent again", 2, first)
	})
	t.Run("other content under the same id is ErrConflict", func(t *testing.T) {
		if _, err := put(cas, ckpt.Metadata{"step": int64(2)}); !errors.Is(err, ckpt.ErrConflict) {
			t.Fatalf("other metadata under the stored id: %v, want ErrConflict", err)
		}
		check(t, "after the conflict", 2, first)
	})
	t.Run("sent again after the head moved on, still success", func(t *testing.T) {
		next := must(t).cfg(s.Put(cas, first, emptyCheckpoint(), nil, nil))
		c, err := put(cas, meta)
		if err != nil || c != first {
			t.Fatalf("sent again: %+v, %v; want %+v, nil", c, err, first)
		}
		check(t, "sent again after a child", 3, next)
		t.Run("and after its parent was deleted", func(t *testing.T) {
			must(t).ok(s.DeleteForRuns(ctx, []string{"root-run"}))
			c, err := put(cas, meta)
			if err != nil || c != first {
				t.Fatalf("sent again: %+v, %v; want %+v, nil", c, err, first)
			}
			check(t, "sent again after its parent was deleted", 2, next)
		})
	})
}

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

func testDeleteThread(t *testing.T, s ckpt.Saver) {
	f := buildListFixture(t, s)
	for _, c := range f.all {
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: "x", Value: 1}}, "task", ""))
	}
	must(t).ok(s.DeleteThread(ctx, "thread-1"))
	for _, c := range f.all {
		_, err := s.GetTuple(ctx, c)
		if c.ThreadID == "thread-1" && !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("deleted %+v still readable: %v", c, err)
		}
		if c.ThreadID == "thread-2" {
			tp, err := s.GetTuple(ctx, c)
			if err != nil || len(tp.PendingWrites) != 1 {
				t.Errorf("other thread damaged: %+v: %v", c, err)
			}
		}
	}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if tp.Config.ThreadID == "thread-1" {
			t.Errorf("deleted thread still listed: %+v", tp.Config)
		}
	}
	t.Run("no resurrection", func(t *testing.T) {
		old := f.all[1] // thread-1's root-namespace child
		if _, err := s.Put(ctx, old, emptyCheckpoint(), nil, nil); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("put on deleted history: %v, want ErrNotFound", err)
		}
		// A compare-and-set put too: its parent is gone, which is not a
		// head that moved on (ErrConflict would tell it to read the head
		// and retry, on a thread that no longer exists).
		cas := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{IfHead: true})
		if _, err := s.Put(cas, old, emptyCheckpoint(), nil, nil); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("compare-and-set put on deleted history: %v, want ErrNotFound", err)
		}
		if err := s.PutWrites(ctx, old, []ckpt.Write{{Channel: "x", Value: 2}}, "late", ""); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("putWrites on deleted history: %v, want ErrNotFound", err)
		}
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "thread-1"}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("late writes brought the thread back: %v", err)
		}
	})
	if err := s.DeleteThread(ctx, "never-existed"); err != nil {
		t.Errorf("deleting an unknown thread: %v", err)
	}
	if err := s.DeleteThread(ctx, ""); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("deleting empty thread id: %v", err)
	}
	// The thread can start again from scratch.
	c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "thread-1"}, emptyCheckpoint(), nil, nil))
	tp := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "thread-1"}))
	if tp.Config != c || tp.ParentConfig != nil || len(tp.PendingWrites) != 0 {
		t.Fatalf("restarted thread: %+v", tp)
	}
}

func must(t *testing.T) req { return req{t} }
