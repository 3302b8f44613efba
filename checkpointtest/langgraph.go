package checkpointtest

// LangGraph's own validation suites, case by case, in Go: the JS one
// (@langchain/langgraph-checkpoint-validation, src/spec/{put,put_writes,
// get_tuple,list,delete_thread}.ts) and the Python one
// (langgraph-checkpoint-conformance, spec/test_{put,put_writes,get_tuple,
// list,delete_thread}.py). Each case names its source. Where ckpt answers
// otherwise by design (docs/langgraph-differences.md), the case asserts
// ckpt's documented answer and says so.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// channelTasks is LangGraph's TASKS channel ("__pregel_tasks"): a regular
// channel for the store, carrying Send packets.
const channelTasks = "__pregel_tasks"

// lgNamespaces are the spec's describe.each(["root", "child"]).
var lgNamespaces = []string{"", "child"}

// lgTS is the spec's new Date().toISOString(): millisecond precision.
var lgTS = time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)

// lgView is a tuple as the spec's toEqual sees it: everything decoded,
// an absent map the same as an empty one.
type lgView struct {
	Config   ckpt.Config
	Parent   *ckpt.Config
	V        int
	ID       string
	TS       time.Time
	Values   map[string]any
	Versions map[string]string
	Seen     map[string]map[string]string
	Metadata ckpt.Metadata
	Writes   [][3]any // [task id, channel, value], as CheckpointPendingWrite
}

func lgViewOf(t *testing.T, tp *ckpt.Tuple) lgView {
	t.Helper()
	v := lgView{
		Config: tp.Config, Parent: tp.ParentConfig, V: tp.Checkpoint.V, ID: tp.Checkpoint.ID,
		TS: tp.Checkpoint.TS.UTC(), Values: values(t, tp), Versions: map[string]string{},
		Seen: map[string]map[string]string{}, Metadata: ckpt.Metadata{},
	}
	for k, x := range tp.Checkpoint.ChannelVersions {
		v.Versions[k] = x
	}
	for k, x := range tp.Checkpoint.VersionsSeen {
		v.Seen[k] = x
	}
	for k, x := range tp.Metadata {
		v.Metadata[k] = x
	}
	for _, w := range tp.PendingWrites {
		v.Writes = append(v.Writes, [3]any{w.TaskID, w.Channel, must(t).val(w.Value.Value())})
	}
	return v
}

// lgCheckpoint is the spec's initialCheckpointTuple checkpoint: v 4, the
// given id, versions 1 for each value, versions_seen {"": {someChannel: 1}}.
func lgCheckpoint(id string, vals map[string]any) ckpt.Checkpoint {
	cp := ckpt.Checkpoint{V: 4, ID: id, TS: lgTS, ChannelValues: map[string]any{}, ChannelVersions: map[string]string{},
		VersionsSeen: map[string]map[string]string{"": {"someChannel": "1"}}}
	for k, v := range vals {
		cp.ChannelValues[k] = v
		cp.ChannelVersions[k] = "1"
	}
	return cp
}

// lgIDs returns n ids in increasing order, as the spec's uuid6(3) calls
// give them: fixed, so a run repeats.
func lgIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("01JQ%022d", i+1)
	}
	return ids
}

// wantViewOf is what the spec expects a stored tuple to read back as.
func wantViewOf(t *testing.T, cfg ckpt.Config, parent *ckpt.Config, cp ckpt.Checkpoint, md ckpt.Metadata, writes [][3]any) lgView {
	t.Helper()
	v := lgView{Config: cfg, Parent: parent, V: cp.V, ID: cp.ID, TS: cp.TS, Values: map[string]any{},
		Versions: cp.ChannelVersions, Seen: cp.VersionsSeen, Metadata: normalize(t, md), Writes: writes}
	for k, x := range cp.ChannelValues {
		raw, err := ckpt.EncodeValue(k, x)
		must(t).ok(err)
		v.Values[k] = must(t).val(raw.Value())
	}
	for i, w := range writes {
		raw, err := ckpt.EncodeValue("write", w[2])
		must(t).ok(err)
		v.Writes[i][2] = must(t).val(raw.Value())
	}
	return v
}

func lgEqual(t *testing.T, what string, got, want lgView) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// testLangGraphPut is put.ts and test_put.py.
func testLangGraphPut(t *testing.T, s ckpt.Saver) {
	ids := lgIDs(40)
	for i, ns := range lgNamespaces {
		t.Run(fmt.Sprintf("namespace %q", ns), func(t *testing.T) {
			thread := "lg-put-" + ns
			id := ids[i]
			cp := lgCheckpoint(id, nil)
			md := ckpt.Metadata{"source": "input", "step": -1, "parents": map[string]any{}}
			// put.ts: "call put without the checkpoint_id in the config".
			cfg := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}, cp, md, nil))
			// "should return config with matching thread_id, checkpoint_id, checkpoint_ns"
			if want := (ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: id}); cfg != want {
				t.Fatalf("returned config %+v, want %+v", cfg, want)
			}
			// "should store the checkpoint / the metadata without alteration"
			got := lgViewOf(t, must(t).tuple(s.GetTuple(ctx, cfg)))
			lgEqual(t, "round trip", got, wantViewOf(t, cfg, nil, cp, md, nil))
			// The spec's ids are uuid6 (time-ordered UUIDs); ckpt's are
			// ULIDs, and a given id that is not one is refused (documented).
			uuid6 := lgCheckpoint("1f1f1c28-3704-6b00-8000-25c16dc435e0", nil)
			if _, err := s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}, uuid6, md, nil); !errors.Is(err, ckpt.ErrInvalidConfig) {
				t.Errorf("put with a uuid6 id: %v, want ErrInvalidConfig", err)
			}
			// "should fail if the thread_id is missing"
			if _, err := s.Put(ctx, ckpt.Config{CheckpointNS: ns}, lgCheckpoint("", nil), md, nil); !errors.Is(err, ckpt.ErrInvalidConfig) {
				t.Errorf("put without thread id: %v, want ErrInvalidConfig", err)
			}
		})
	}
	t.Run("only the channels in newVersions are stored", func(t *testing.T) {
		// put.ts (skipped there for MemorySaver and SqliteSaver, which
		// store the checkpoint whole; ckpt stores as Postgres does):
		// three puts with no parent, the same values and versions, and
		// newVersions {}, {foo: 1}, {foo: 1, baz: 1}. Each in a thread of
		// its own here: see the next case for the spec's one thread.
		want := []map[string]any{{}, {"foo": "bar"}, {"foo": "bar", "baz": "qux"}}
		for i, nv := range []map[string]string{{}, {"foo": "1"}, {"foo": "1", "baz": "1"}} {
			cp := lgCheckpoint(ids[10+i], map[string]any{"foo": "bar", "baz": "qux"})
			c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: fmt.Sprintf("lg-put-delta-%d", i)}, cp, ckpt.Metadata{"source": "input", "step": -1}, nv))
			if got := values(t, must(t).tuple(s.GetTuple(ctx, c))); !reflect.DeepEqual(got, want[i]) {
				t.Errorf("put %d (newVersions %v): values %v, want %v", i, nv, got, want[i])
			}
		}
	})
	t.Run("a version first named without a value keeps no value", func(t *testing.T) {
		// The spec's three puts in one thread: the first names foo and
		// baz at version 1 and gives them no value, which ckpt stores as
		// "no value" (docs/file-format.md), so the second put, giving
		// (foo, 1) a value, is ErrVersionReused and writes nothing;
		// Postgres stores it, and its first checkpoint then reads foo
		// too (documented in docs/langgraph-differences.md).
		nv := []map[string]string{{}, {"foo": "1"}}
		c0 := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-put-delta"}, lgCheckpoint(ids[20], map[string]any{"foo": "bar", "baz": "qux"}), nil, nv[0]))
		_, err := s.Put(ctx, ckpt.Config{ThreadID: "lg-put-delta"}, lgCheckpoint(ids[21], map[string]any{"foo": "bar", "baz": "qux"}), nil, nv[1])
		if !errors.Is(err, ckpt.ErrVersionReused) {
			t.Errorf("second put: %v, want ErrVersionReused", err)
		}
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "lg-put-delta", CheckpointID: ids[21]}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("refused put is readable: %v", err)
		}
		if got := values(t, must(t).tuple(s.GetTuple(ctx, c0))); len(got) != 0 {
			t.Errorf("first checkpoint now reads %v, want no values", got)
		}
	})
	t.Run("test_put.py", func(t *testing.T) {
		// test_put_preserves_channel_values, _channel_versions,
		// _versions_seen(_values), _metadata, _run_id, _child_namespace.
		vals := map[string]any{"str_val": "hello", "int_val": int64(42), "list_val": []any{int64(1), int64(2), int64(3)}, "dict_val": map[string]any{"nested": true}, "nil_val": nil}
		cp := lgCheckpoint("", vals)
		cp.ChannelVersions["int_val"] = "2"
		cp.VersionsSeen = map[string]map[string]string{"node1": {"ch_a": "1", "ch_b": "2"}, "node2": {"ch_a": "3"}}
		md := ckpt.Metadata{"source": "loop", "step": 3, "parents": map[string]any{}, "custom_key": "custom_value", "run_id": "run-1"}
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-put-py", CheckpointNS: "child:abc"}, cp, md, cp.ChannelVersions))
		cp.ID = c.CheckpointID
		lgEqual(t, "round trip", lgViewOf(t, must(t).tuple(s.GetTuple(ctx, c))), wantViewOf(t, c, nil, cp, md, nil))

		// test_put_multiple_checkpoints_same_thread, _parent_config,
		// _incremental_channel_update, _new_channel_added, _channel_removed.
		c1 := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-put-chain"}, ckpt.Checkpoint{V: 1,
			ChannelValues: map[string]any{"a": "v1", "b": "v2"}, ChannelVersions: map[string]string{"a": "1", "b": "1"}},
			ckpt.Metadata{"step": 0}, map[string]string{"a": "1", "b": "1"}))
		c2 := must(t).cfg(s.Put(ctx, c1, ckpt.Checkpoint{V: 1,
			ChannelValues: map[string]any{"a": "v1_updated", "b": "v2"}, ChannelVersions: map[string]string{"a": "2", "b": "1"}},
			ckpt.Metadata{"step": 1}, map[string]string{"a": "2"}))
		c3 := must(t).cfg(s.Put(ctx, c2, ckpt.Checkpoint{V: 1,
			ChannelValues: map[string]any{"a": "v1_updated", "c": "new_channel"}, ChannelVersions: map[string]string{"a": "2", "c": "1"}},
			ckpt.Metadata{"step": 2}, map[string]string{"c": "1"}))
		for _, tc := range []struct {
			cfg    ckpt.Config
			parent *ckpt.Config
			want   map[string]any
		}{
			{c1, nil, map[string]any{"a": "v1", "b": "v2"}},
			{c2, &c1, map[string]any{"a": "v1_updated", "b": "v2"}},
			{c3, &c2, map[string]any{"a": "v1_updated", "c": "new_channel"}}, // b removed, c added
		} {
			tp := must(t).tuple(s.GetTuple(ctx, tc.cfg))
			if got := values(t, tp); !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(tp.ParentConfig, tc.parent) || tp.Checkpoint.V != 1 {
				t.Errorf("%s: values %v parent %+v v %d; want %v, %+v, 1", tc.cfg.CheckpointID, got, tp.ParentConfig, tp.Checkpoint.V, tc.want, tc.parent)
			}
		}
		// test_put_multiple_threads_isolated
		for _, th := range []string{"lg-iso-1", "lg-iso-2"} {
			must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: th}, lgCheckpoint("", map[string]any{"x": th}), nil, map[string]string{"x": "1"}))
		}
		for _, th := range []string{"lg-iso-1", "lg-iso-2"} {
			if got := values(t, must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: th}))); got["x"] != th {
				t.Errorf("thread %s reads x = %v", th, got["x"])
			}
		}
	})
}

// testLangGraphPutWrites is put_writes.ts and test_put_writes.py.
func testLangGraphPutWrites(t *testing.T, s ckpt.Saver) {
	for _, ns := range lgNamespaces {
		t.Run(fmt.Sprintf("namespace %q", ns), func(t *testing.T) {
			thread := "lg-pw-" + ns
			cp := lgCheckpoint(lgIDs(1)[0], nil)
			md := ckpt.Metadata{"source": "input", "step": -1, "parents": map[string]any{}}
			cfg := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}, cp, md, nil))
			must(t).ok(s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "animals", Value: "dog"}}, "pet_task", ""))
			// "should store writes to the checkpoint"
			got := lgViewOf(t, must(t).tuple(s.GetTuple(ctx, cfg)))
			lgEqual(t, "tuple", got, wantViewOf(t, cfg, nil, cp, md, [][3]any{{"pet_task", "animals", "dog"}}))
			// "should fail if the thread_id / the checkpoint_id is missing"
			for _, c := range []ckpt.Config{{CheckpointNS: ns, CheckpointID: cfg.CheckpointID}, {ThreadID: thread, CheckpointNS: ns}} {
				if err := s.PutWrites(ctx, c, []ckpt.Write{{Channel: "animals", Value: "dog"}}, "pet_task", ""); !errors.Is(err, ckpt.ErrInvalidConfig) {
					t.Errorf("putWrites %+v: %v, want ErrInvalidConfig", c, err)
				}
			}
		})
	}
	t.Run("INTERRUPT and RESUME do not clobber regular writes", func(t *testing.T) {
		// checkpoint-sqlite's checkpoints.test.ts: task A's two regular
		// writes, then its INTERRUPT, then its RESUME, then task B's
		// regular write: all five survive.
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-pw-ir"}, lgCheckpoint("", nil), nil, nil))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: "foo", Value: "val_foo"}, {Channel: "bar", Value: "val_bar"}}, "task_A", ""))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: ckpt.ChannelInterrupt, Value: "paused"}}, "task_A", ""))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: ckpt.ChannelResume, Value: "carry_on"}}, "task_A", ""))
		must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: "baz", Value: "val_baz"}}, "task_B", ""))
		got := lgViewOf(t, must(t).tuple(s.GetTuple(ctx, c))).Writes
		want := [][3]any{{"task_A", ckpt.ChannelResume, "carry_on"}, {"task_A", ckpt.ChannelInterrupt, "paused"},
			{"task_A", "foo", "val_foo"}, {"task_A", "bar", "val_bar"}, {"task_B", "baz", "val_baz"}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("writes\n got %v\nwant %v", got, want)
		}
	})
	t.Run("test_put_writes.py", func(t *testing.T) {
		root := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-pw-py"}, lgCheckpoint("", nil), nil, nil))
		child := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-pw-py", CheckpointNS: "child:1"}, lgCheckpoint("", nil), nil, nil))
		// _multiple_writes_same_task, _multiple_tasks, _preserves_channel_and_value, _task_path
		must(t).ok(s.PutWrites(ctx, root, []ckpt.Write{{Channel: "ch1", Value: "v1"}, {Channel: "ch2", Value: "v2"}, {Channel: "ch3", Value: "v3"}}, "t0", ""))
		must(t).ok(s.PutWrites(ctx, root, []ckpt.Write{{Channel: "ch", Value: "from_t1"}}, "t1", "a:b:c"))
		must(t).ok(s.PutWrites(ctx, root, []ckpt.Write{{Channel: "ch", Value: "from_t2"}}, "t2", "a:b:c"))
		must(t).ok(s.PutWrites(ctx, root, []ckpt.Write{{Channel: "my_channel", Value: map[string]any{"data": 123}}}, "t3", ""))
		// _idempotent: the same call twice stores one write.
		must(t).ok(s.PutWrites(ctx, root, []ckpt.Write{{Channel: "ch", Value: "val"}}, "t4", ""))
		must(t).ok(s.PutWrites(ctx, root, []ckpt.Write{{Channel: "ch", Value: "val"}}, "t4", ""))
		// _special_channels: ERROR and INTERRUPT in one call are both kept.
		must(t).ok(s.PutWrites(ctx, root, []ckpt.Write{{Channel: ckpt.ChannelError, Value: "something went wrong"}, {Channel: ckpt.ChannelInterrupt, Value: map[string]any{"reason": "human_input"}}}, "t5", ""))
		// _across_namespaces
		must(t).ok(s.PutWrites(ctx, child, []ckpt.Write{{Channel: "ch", Value: "child_val"}}, "tc", ""))

		got := lgViewOf(t, must(t).tuple(s.GetTuple(ctx, root))).Writes
		// ckpt's order: (task path, task id, idx), special indexes first.
		want := wantViewOf(t, root, nil, ckpt.Checkpoint{}, nil, [][3]any{
			{"t0", "ch1", "v1"}, {"t0", "ch2", "v2"}, {"t0", "ch3", "v3"},
			{"t3", "my_channel", map[string]any{"data": 123}}, {"t4", "ch", "val"},
			{"t5", ckpt.ChannelInterrupt, map[string]any{"reason": "human_input"}},
			{"t5", ckpt.ChannelError, "something went wrong"},
			{"t1", "ch", "from_t1"}, {"t2", "ch", "from_t2"},
		}).Writes
		if !reflect.DeepEqual(got, want) {
			t.Errorf("root writes\n got %v\nwant %v", got, want)
		}
		if got := lgViewOf(t, must(t).tuple(s.GetTuple(ctx, child))).Writes; !reflect.DeepEqual(got, [][3]any{{"tc", "ch", "child_val"}}) {
			t.Errorf("child namespace writes %v", got)
		}
		// _cleared_on_next_checkpoint
		next := must(t).cfg(s.Put(ctx, root, lgCheckpoint("", nil), nil, nil))
		if w := must(t).tuple(s.GetTuple(ctx, next)).PendingWrites; len(w) != 0 {
			t.Errorf("next checkpoint has writes %v", w)
		}
	})
}

// lgPair puts get_tuple.ts's parent and child (parentAndChildCheckpointTuplesWithWrites)
// with their writes and returns the configs and what each must read back as.
func lgPair(t *testing.T, s ckpt.Saver, thread, ns string, ids []string) (parent, child ckpt.Config, wantParent, wantChild lgView) {
	t.Helper()
	pcp := lgCheckpoint(ids[0], map[string]any{"animals": []any{"dog"}})
	pmd := ckpt.Metadata{"source": "input", "step": -1, "parents": map[string]any{}}
	parent = must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}, pcp, pmd, map[string]string{"animals": "1"}))
	must(t).ok(s.PutWrites(ctx, parent, []ckpt.Write{{Channel: channelTasks, Value: []any{"add_fish"}}}, "pending_sends_task", ""))

	ccp := lgCheckpoint(ids[1], map[string]any{"animals": []any{"dog", "fish"}})
	ccp.ChannelVersions["animals"] = "2"
	cmd := ckpt.Metadata{"source": "loop", "step": 0, "parents": map[string]any{ns: ids[0]}}
	child = must(t).cfg(s.Put(ctx, parent, ccp, cmd, map[string]string{"animals": "2"}))
	must(t).ok(s.PutWrites(ctx, child, []ckpt.Write{{Channel: "animals", Value: []any{"dog", "fish"}}}, "add_fish", ""))

	wantParent = wantViewOf(t, parent, nil, pcp, pmd, [][3]any{{"pending_sends_task", channelTasks, []any{"add_fish"}}})
	wantChild = wantViewOf(t, child, &parent, ccp, cmd, [][3]any{{"add_fish", "animals", []any{"dog", "fish"}}})
	return parent, child, wantParent, wantChild
}

// testLangGraphGetTuple is get_tuple.ts and test_get_tuple.py.
func testLangGraphGetTuple(t *testing.T, s ckpt.Saver) {
	ids := lgIDs(10)
	for i, ns := range lgNamespaces {
		t.Run(fmt.Sprintf("namespace %q", ns), func(t *testing.T) {
			thread := "lg-get-" + ns
			parent, child, wantParent, wantChild := lgPair(t, s, thread, ns, ids[2*i:])
			if want := (ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: ids[2*i]}); parent != want {
				t.Fatalf("parent config %+v, want %+v", parent, want)
			}
			// "when checkpoint_id is provided": first and subsequent checkpoints.
			lgEqual(t, "parent", lgViewOf(t, must(t).tuple(s.GetTuple(ctx, parent))), wantParent)
			lgEqual(t, "child", lgViewOf(t, must(t).tuple(s.GetTuple(ctx, child))), wantChild)
			// "when checkpoint_id is not provided": the latest.
			lgEqual(t, "latest", lgViewOf(t, must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}))), wantChild)
			// "should return undefined if the checkpoint_id is not found":
			// ErrNotFound here (documented).
			if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "lg-unknown", CheckpointNS: ns, CheckpointID: ids[9]}); !errors.Is(err, ckpt.ErrNotFound) {
				t.Errorf("unknown checkpoint: %v, want ErrNotFound", err)
			}
			// "should return undefined if the thread_id is undefined":
			// ErrInvalidConfig here (documented).
			if _, err := s.GetTuple(ctx, ckpt.Config{CheckpointNS: ns}); !errors.Is(err, ckpt.ErrInvalidConfig) {
				t.Errorf("no thread id: %v, want ErrInvalidConfig", err)
			}
		})
		t.Run(fmt.Sprintf("namespace %q: channels carried over from an ancestor", ns), func(t *testing.T) {
			thread := "lg-carry-" + ns
			p := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}, ckpt.Checkpoint{V: 4,
				ChannelValues: map[string]any{"messages": []any{"hi"}, "stepCount": 1}, ChannelVersions: map[string]string{"messages": "1", "stepCount": "1"},
				VersionsSeen: map[string]map[string]string{"": {"someChannel": "1"}}}, ckpt.Metadata{"source": "loop", "step": 0, "parents": map[string]any{}},
				map[string]string{"messages": "1", "stepCount": "1"}))
			c := must(t).cfg(s.Put(ctx, p, ckpt.Checkpoint{V: 4,
				ChannelValues: map[string]any{"messages": []any{"hi"}, "stepCount": 3}, ChannelVersions: map[string]string{"messages": "1", "stepCount": "2"},
				VersionsSeen: map[string]map[string]string{"": {"someChannel": "1"}}}, ckpt.Metadata{"source": "loop", "step": 1, "parents": map[string]any{}},
				map[string]string{"stepCount": "2"}))
			want := map[string]any{"messages": []any{"hi"}, "stepCount": int64(3)}
			for _, cfg := range []ckpt.Config{c, {ThreadID: thread, CheckpointNS: ns}} {
				if got := values(t, must(t).tuple(s.GetTuple(ctx, cfg))); !reflect.DeepEqual(got, want) {
					t.Errorf("%+v: values %v, want %v", cfg, got, want)
				}
			}
		})
	}
	t.Run("pending sends of a v1 checkpoint are not migrated", func(t *testing.T) {
		// get_tuple.ts / list.ts "should migrate pending sends": LangGraph
		// moves the TASKS writes of a checkpoint of format v < 4 into
		// the next checkpoint's channel_values. ckpt stores V as given and
		// never rewrites a checkpoint (documented): the writes stay
		// pending writes of the checkpoint they were written to.
		c0 := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-sends"}, ckpt.Checkpoint{V: 1}, ckpt.Metadata{"source": "loop", "step": 0, "parents": map[string]any{}}, nil))
		must(t).ok(s.PutWrites(ctx, c0, []ckpt.Write{{Channel: channelTasks, Value: "send-1"}, {Channel: channelTasks, Value: "send-2"}}, "task-1", ""))
		must(t).ok(s.PutWrites(ctx, c0, []ckpt.Write{{Channel: channelTasks, Value: "send-3"}}, "task-2", ""))
		if tp := must(t).tuple(s.GetTuple(ctx, c0)); len(tp.Checkpoint.ChannelValues) != 0 || len(tp.PendingWrites) != 3 {
			t.Errorf("checkpoint 0: values %v, writes %v", tp.Checkpoint.ChannelValues, tp.PendingWrites)
		}
		c1 := must(t).cfg(s.Put(ctx, c0, ckpt.Checkpoint{V: 1}, ckpt.Metadata{"source": "loop", "step": 1, "parents": map[string]any{}}, nil))
		tp := must(t).tuple(s.GetTuple(ctx, c1))
		if len(tp.Checkpoint.ChannelValues) != 0 || len(tp.Checkpoint.ChannelVersions) != 0 || tp.Checkpoint.V != 1 {
			t.Errorf("checkpoint 1: values %v versions %v v %d; want none, as stored", tp.Checkpoint.ChannelValues, tp.Checkpoint.ChannelVersions, tp.Checkpoint.V)
		}
	})
	t.Run("test_get_tuple.py", func(t *testing.T) {
		// _checkpoint_fields: v, id, a ts set by the store, values.
		before := time.Now().Add(-time.Minute)
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-get-py"}, ckpt.Checkpoint{V: 1,
			ChannelValues: map[string]any{"k": "v"}, ChannelVersions: map[string]string{"k": "1"}}, ckpt.Metadata{"source": "input", "step": -1}, map[string]string{"k": "1"}))
		tp := must(t).tuple(s.GetTuple(ctx, c))
		if tp.Checkpoint.ID != c.CheckpointID || tp.Checkpoint.V != 1 || tp.Checkpoint.TS.Before(before) || !reflect.DeepEqual(values(t, tp), map[string]any{"k": "v"}) {
			t.Errorf("checkpoint fields %+v", tp.Checkpoint)
		}
		if tp.Metadata["source"] != "input" || tp.Metadata["step"] != int64(-1) {
			t.Errorf("metadata %v", tp.Metadata)
		}
		// _nonexistent_checkpoint_id: another id in a thread that exists.
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "lg-get-py", CheckpointID: lgIDs(1)[0]}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("unknown id in a known thread: %v, want ErrNotFound", err)
		}
	})
}

// testLangGraphList is list.ts (every combination of its argument
// ranges) and test_list.py.
func testLangGraphList(t *testing.T, s ckpt.Saver) {
	// generateTuplePairs(2, ["", "child"]): per thread and namespace a
	// parent and a child, with writes; ids increase in put order.
	ids := lgIDs(8)
	type stored struct {
		cfg  ckpt.Config
		view lgView
	}
	var all []stored
	for i, thread := range []string{"lg-list-1", "lg-list-2"} {
		for j, ns := range lgNamespaces {
			k := 4*i + 2*j
			p, c, wp, wc := lgPair(t, s, thread, ns, ids[k:])
			all = append(all, stored{p, wp}, stored{c, wc})
		}
	}
	threads := []string{"", "lg-list-1", "lg-list-2", "lg-list-unknown"}
	nss := []*string{nil, ckpt.NS(""), ckpt.NS("child")}
	befores := []string{"", all[0].cfg.CheckpointID, all[1].cfg.CheckpointID}
	filters := []map[string]any{nil, {}, {"source": "input"}, {"source": "loop"}}
	cases := 0
	for _, thread := range threads {
		for _, ns := range nss {
			for _, limit := range []int{0, 1, 2} {
				for _, before := range befores {
					for _, filter := range filters {
						cases++
						var want []lgView
						for i := len(all) - 1; i >= 0; i-- { // newest first
							c, md := all[i].cfg, all[i].view.Metadata
							if (thread != "" && c.ThreadID != thread) || (ns != nil && c.CheckpointNS != *ns) ||
								(before != "" && c.CheckpointID >= before) {
								continue
							}
							if src, ok := filter["source"]; ok && md["source"] != src {
								continue
							}
							want = append(want, all[i].view)
						}
						if limit > 0 && len(want) > limit {
							want = want[:limit]
						}
						var got []lgView
						for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread, Namespace: ns, Before: before, Limit: limit, Filter: filter}) {
							must(t).ok(err)
							got = append(got, lgViewOf(t, tp))
						}
						if !reflect.DeepEqual(got, want) {
							t.Errorf("thread %q ns %v limit %d before %q filter %v:\n got %+v\nwant %+v", thread, ns, limit, before, filter, got, want)
						}
					}
				}
			}
		}
	}
	if cases != 4*3*3*3*4 {
		t.Fatalf("%d cases", cases)
	}
	t.Run("test_list.py", func(t *testing.T) {
		var cfgs []ckpt.Config
		var parent ckpt.Config
		for i := range 4 {
			src := map[bool]string{true: "input", false: "loop"}[i%2 == 0]
			parent = must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-list-py", CheckpointID: parent.CheckpointID}, lgCheckpoint("", nil),
				ckpt.Metadata{"source": src, "step": i, "parents": map[string]any{}, "score": 40 + i}, nil))
			cfgs = append(cfgs, parent)
		}
		must(t).ok(s.PutWrites(ctx, cfgs[3], []ckpt.Write{{Channel: "ch", Value: "val"}}, "t", ""))
		list := func(o ckpt.ListOptions) []string {
			o.ThreadID = "lg-list-py"
			var got []string
			for tp, err := range s.List(ctx, o) {
				must(t).ok(err)
				got = append(got, tp.Config.CheckpointID)
				if tp.Config == cfgs[3] && len(tp.PendingWrites) != 1 { // _includes_pending_writes
					t.Errorf("listed tuple without its write: %v", tp.PendingWrites)
				}
			}
			return got
		}
		id := func(i ...int) []string {
			var out []string
			for _, k := range i {
				out = append(out, cfgs[k].CheckpointID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			o    ckpt.ListOptions
			want []string
		}{
			{"all, ordering", ckpt.ListOptions{}, id(3, 2, 1, 0)},
			{"filter single key", ckpt.ListOptions{Filter: map[string]any{"source": "input"}}, id(2, 0)},
			{"filter step", ckpt.ListOptions{Filter: map[string]any{"step": 1}}, id(1)},
			{"filter multiple keys", ckpt.ListOptions{Filter: map[string]any{"source": "input", "step": 2}}, id(2)},
			{"filter no match", ckpt.ListOptions{Filter: map[string]any{"source": "update", "step": 99}}, nil},
			{"filter custom key", ckpt.ListOptions{Filter: map[string]any{"score": 42}}, id(2)},
			{"before", ckpt.ListOptions{Before: cfgs[2].CheckpointID}, id(1, 0)},
			{"limit", ckpt.ListOptions{Limit: 2}, id(3, 2)},
			{"limit plus before", ckpt.ListOptions{Before: cfgs[3].CheckpointID, Limit: 1}, id(2)},
			{"combined namespace", ckpt.ListOptions{Namespace: ckpt.NS("")}, id(3, 2, 1, 0)},
			{"other namespace", ckpt.ListOptions{Namespace: ckpt.NS("child:1")}, nil},
		} {
			if got := list(tc.o); !slices.Equal(got, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
			}
		}
	})
}

// testLangGraphSearch is test_memory.py's test_search (the Python
// savers' own tests): filters across threads, nested and null values.
func testLangGraphSearch(t *testing.T, s ckpt.Saver) {
	a := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "thread-1"}, emptyCheckpoint(), ckpt.Metadata{"source": "input", "step": 2, "writes": map[string]any{}, "score": 1}, nil))
	b := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "thread-2"}, emptyCheckpoint(), ckpt.Metadata{"source": "loop", "step": 1, "writes": map[string]any{"foo": "bar"}, "score": nil}, nil))
	c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "thread-2", CheckpointNS: "inner"}, emptyCheckpoint(), ckpt.Metadata{}, nil))
	for _, tc := range []struct {
		thread string
		filter map[string]any
		want   []ckpt.Config
	}{
		{"", map[string]any{"source": "input"}, []ckpt.Config{a}},
		{"", map[string]any{"step": 1, "writes": map[string]any{"foo": "bar"}}, []ckpt.Config{b}},
		{"", map[string]any{}, []ckpt.Config{c, b, a}},
		{"", map[string]any{"source": "update", "step": 1}, nil},
		{"thread-2", nil, []ckpt.Config{c, b}}, // every namespace
		// A null value matches a key holding null, not a missing key (as
		// SqliteSaver, checked through node).
		{"", map[string]any{"score": nil}, []ckpt.Config{b}},
		// A nested map matches as a subset (documented: SqliteSaver
		// compares JSON text and matches only a).
		{"", map[string]any{"writes": map[string]any{}}, []ckpt.Config{b, a}},
	} {
		var got []ckpt.Config
		for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: tc.thread, Filter: tc.filter}) {
			must(t).ok(err)
			got = append(got, tp.Config)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("thread %q filter %v: got %v, want %v", tc.thread, tc.filter, got, tc.want)
		}
	}
	if md := must(t).tuple(s.GetTuple(ctx, b)).Metadata; !reflect.DeepEqual(md, ckpt.Metadata{"source": "loop", "step": int64(1), "writes": map[string]any{"foo": "bar"}, "score": nil}) {
		t.Errorf("metadata with a null value reads %#v", md)
	}
}

// testLangGraphDeleteThread is delete_thread.ts and test_delete_thread.py.
func testLangGraphDeleteThread(t *testing.T, s ckpt.Saver) {
	md := ckpt.Metadata{"source": "update", "step": -1, "parents": map[string]any{}}
	for _, th := range []string{"1", "2"} {
		for _, ns := range []string{"", "child:1", "child:2"} {
			c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: th, CheckpointNS: ns}, lgCheckpoint("", nil), md, nil))
			must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: "ch", Value: "val"}}, "t", ""))
		}
	}
	must(t).ok(s.DeleteThread(ctx, "1"))
	for _, ns := range []string{"", "child:1", "child:2"} {
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "1", CheckpointNS: ns}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("deleted thread, namespace %q: %v, want ErrNotFound", ns, err)
		}
		if tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "2", CheckpointNS: ns}); err != nil || len(tp.PendingWrites) != 1 {
			t.Errorf("other thread, namespace %q: %v", ns, err)
		}
	}
	for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "1"}) {
		t.Errorf("deleted thread listed: %v %v", tp, err)
	}
	must(t).ok(s.DeleteThread(ctx, "never-existed"))
}
