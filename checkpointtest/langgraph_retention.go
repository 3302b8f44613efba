package checkpointtest

// LangGraph's Python conformance suite (langgraph-checkpoint-conformance,
// spec/test_{copy_thread,prune,delete_for_runs}.py), case by case, in Go:
// the calls of ckpt's Saver that LangGraph's BaseCheckpointSaver has too.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// lgChain puts n checkpoints in a chain in thread and ns, with metadata
// step i (and extra), channel "step" valued i under version i+1; it
// returns their configs, oldest first.
func lgChain(t *testing.T, s ckpt.Saver, thread, ns string, n int, extra ckpt.Metadata) []ckpt.Config {
	t.Helper()
	var out []ckpt.Config
	var parent string
	for i := range n {
		md := ckpt.Metadata{"source": "loop", "step": i, "parents": map[string]any{}}
		for k, v := range extra {
			md[k] = v
		}
		ver := map[string]string{"step": fmt.Sprint(i + 1)}
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent}, ckpt.Checkpoint{V: 1,
			ChannelValues: map[string]any{"step": i}, ChannelVersions: ver}, md, ver))
		out = append(out, c)
		parent = c.CheckpointID
	}
	return out
}

// lgListed lists thread (in ns, when given) and returns the tuples' views.
func lgListed(t *testing.T, s ckpt.Saver, thread string, ns *string) []lgView {
	t.Helper()
	var out []lgView
	for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread, Namespace: ns}) {
		must(t).ok(err)
		out = append(out, lgViewOf(t, tp))
	}
	return out
}

func lgIDsOf(vs []lgView) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	return ids
}

// testLangGraphCopyThread is test_copy_thread.py.
func testLangGraphCopyThread(t *testing.T, s ckpt.Saver) {
	t.Run("the suite's fixture reuses a version", func(t *testing.T) {
		// _setup_source_thread puts step 0, 1, 2 all under version 1 of
		// channel "step": the second put is ErrVersionReused here
		// (docs/api.md; Postgres keeps the first value for all three).
		v1 := map[string]string{"step": "1"}
		c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "lg-copy-fixture"}, ckpt.Checkpoint{ChannelValues: map[string]any{"step": 0}, ChannelVersions: v1}, nil, v1))
		_, err := s.Put(ctx, c, ckpt.Checkpoint{ChannelValues: map[string]any{"step": 1}, ChannelVersions: v1}, nil, v1)
		if !errors.Is(err, ckpt.ErrVersionReused) {
			t.Fatalf("second put under version 1: %v, want ErrVersionReused", err)
		}
	})
	// The fixture with a new version per step, in two namespaces.
	src := map[string][]ckpt.Config{}
	for _, ns := range []string{"", "child:1"} {
		src[ns] = lgChain(t, s, "lg-copy-src", ns, 4, nil)
	}
	must(t).ok(s.PutWrites(ctx, src[""][3], []ckpt.Write{{Channel: "ch", Value: "write_val"}}, "task", ""))
	before := lgListed(t, s, "lg-copy-src", nil)
	must(t).ok(s.CopyThread(ctx, "lg-copy-src", "lg-copy-dst", ckpt.CopyOptions{}))
	after := lgListed(t, s, "lg-copy-src", nil)
	dst := lgListed(t, s, "lg-copy-dst", nil)
	// _basic, _all_checkpoints, _preserves_metadata, _preserves_ordering,
	// _preserves_writes, _source_unchanged: the copy is the source with
	// the destination's thread id in its configs.
	if !reflect.DeepEqual(after, before) {
		t.Errorf("source changed by the copy")
	}
	if len(dst) != 8 || !slices.Equal(lgIDsOf(dst), lgIDsOf(before)) {
		t.Fatalf("copied ids %v, want %v", lgIDsOf(dst), lgIDsOf(before))
	}
	for i, d := range dst {
		w := before[i]
		w.Config.ThreadID = "lg-copy-dst"
		if w.Parent != nil {
			p := *w.Parent
			p.ThreadID = "lg-copy-dst"
			w.Parent = &p
		}
		lgEqual(t, "copied "+d.ID, d, w)
	}
	// _preserves_namespaces
	for _, ns := range []string{"", "child:1"} {
		if got := lgListed(t, s, "lg-copy-dst", ckpt.NS(ns)); len(got) != 4 {
			t.Errorf("namespace %q: %d copied, want 4", ns, len(got))
		}
	}
	// _nonexistent_source: an error is allowed, a destination is not.
	err := s.CopyThread(ctx, "lg-copy-none", "lg-copy-dst2", ckpt.CopyOptions{})
	if !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("copy of a missing thread: %v, want ErrNotFound", err)
	}
	if got := lgListed(t, s, "lg-copy-dst2", nil); len(got) != 0 {
		t.Errorf("copy of a missing thread made %d checkpoints", len(got))
	}
}

// testLangGraphPrune is test_prune.py.
func testLangGraphPrune(t *testing.T, s ckpt.Saver) {
	root := lgChain(t, s, "lg-prune-1", "", 4, nil)
	child := lgChain(t, s, "lg-prune-1", "child:1", 2, nil)
	must(t).ok(s.PutWrites(ctx, root[3], []ckpt.Write{{Channel: "ch", Value: "val"}}, "task", ""))
	two := lgChain(t, s, "lg-prune-2", "", 2, nil)
	other := lgChain(t, s, "lg-prune-3", "", 3, nil)
	gone := lgChain(t, s, "lg-prune-4", "", 3, nil)
	otherBefore := lgListed(t, s, "lg-prune-3", nil)
	// _keep_latest_single_thread, _multiple_threads, _across_namespaces,
	// _preserves_writes, _preserves_other_threads.
	must(t).ok(s.Prune(ctx, []string{"lg-prune-1", "lg-prune-2"}, ckpt.PruneKeepLatest))
	for _, tc := range []struct {
		thread, ns string
		want       ckpt.Config
	}{{"lg-prune-1", "", root[3]}, {"lg-prune-1", "child:1", child[1]}, {"lg-prune-2", "", two[1]}} {
		got := lgListed(t, s, tc.thread, ckpt.NS(tc.ns))
		if len(got) != 1 || got[0].Config != tc.want {
			t.Errorf("%s %q after keep-latest: %v, want only %s", tc.thread, tc.ns, lgIDsOf(got), tc.want.CheckpointID)
		}
	}
	tp := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "lg-prune-1"}))
	if w := lgViewOf(t, tp).Writes; !reflect.DeepEqual(w, [][3]any{{"task", "ch", "val"}}) {
		t.Errorf("kept checkpoint's writes %v", w)
	}
	if got := values(t, tp); !reflect.DeepEqual(got, map[string]any{"step": int64(3)}) {
		t.Errorf("kept checkpoint's values %v", got)
	}
	if got := lgListed(t, s, "lg-prune-3", nil); !reflect.DeepEqual(got, otherBefore) || len(got) != len(other) {
		t.Errorf("other thread changed: %v", lgIDsOf(got))
	}
	// _delete_all
	must(t).ok(s.Prune(ctx, []string{"lg-prune-4"}, ckpt.PruneDelete))
	if got := lgListed(t, s, "lg-prune-4", nil); len(got) != 0 {
		t.Errorf("deleted thread lists %v", lgIDsOf(got))
	}
	if _, err := s.GetTuple(ctx, gone[2]); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("deleted thread reads: %v", err)
	}
	// _empty_list_noop, _nonexistent_noop
	must(t).ok(s.Prune(ctx, nil, ckpt.PruneKeepLatest))
	must(t).ok(s.Prune(ctx, []string{"lg-prune-none"}, ckpt.PruneKeepLatest))
}

// testLangGraphDeleteForRuns is test_delete_for_runs.py.
func testLangGraphDeleteForRuns(t *testing.T, s ckpt.Saver) {
	put := func(thread, ns, run string, parent ckpt.Config) ckpt.Config {
		t.Helper()
		return must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parent.CheckpointID},
			lgCheckpoint("", nil), ckpt.Metadata{"source": "loop", "step": 0, "parents": map[string]any{}, "run_id": run}, nil))
	}
	runs := func(thread string, ns *string) []string {
		t.Helper()
		var out []string
		for _, v := range lgListed(t, s, thread, ns) {
			out = append(out, fmt.Sprint(v.Metadata["run_id"]))
		}
		return out
	}
	// _single: run-1's checkpoint is the parent of run-2's.
	s1 := put("lg-runs-1", "", "run-1", ckpt.Config{})
	s2 := put("lg-runs-1", "", "run-2", s1)
	// _multiple
	m1 := put("lg-runs-2", "", "run-3", ckpt.Config{})
	m2 := put("lg-runs-2", "", "run-4", m1)
	put("lg-runs-2", "", "run-5", m2)
	// _preserves_other_runs: two roots in one thread.
	put("lg-runs-3", "", "run-keep", ckpt.Config{})
	put("lg-runs-3", "", "run-6", ckpt.Config{})
	// _removes_writes
	w := put("lg-runs-4", "", "run-7", ckpt.Config{})
	must(t).ok(s.PutWrites(ctx, w, []ckpt.Write{{Channel: "ch", Value: "val"}}, "task", ""))
	// _across_namespaces
	put("lg-runs-5", "", "run-8", ckpt.Config{})
	put("lg-runs-5", "child:1", "run-8", ckpt.Config{})

	must(t).ok(s.DeleteForRuns(ctx, []string{"run-1", "run-3", "run-4", "run-6", "run-7", "run-8"}))
	for _, tc := range []struct {
		thread string
		ns     *string
		want   []string
	}{
		{"lg-runs-1", nil, []string{"run-2"}},
		{"lg-runs-2", nil, []string{"run-5"}},
		{"lg-runs-3", nil, []string{"run-keep"}},
		{"lg-runs-4", nil, nil},
		{"lg-runs-5", ckpt.NS(""), nil},
		{"lg-runs-5", ckpt.NS("child:1"), nil},
	} {
		if got := runs(tc.thread, tc.ns); !slices.Equal(got, tc.want) {
			t.Errorf("%s: runs %v after the delete, want %v", tc.thread, got, tc.want)
		}
	}
	if _, err := s.GetTuple(ctx, w); !errors.Is(err, ckpt.ErrNotFound) {
		t.Errorf("deleted run's checkpoint reads: %v", err)
	}
	// The checkpoint whose parent went still reads, and a run goes on
	// from it.
	tp := must(t).tuple(s.GetTuple(ctx, s2))
	if tp.Config != s2 {
		t.Errorf("surviving child reads %+v", tp.Config)
	}
	put("lg-runs-1", "", "run-9", s2)
	// _empty_list_noop, _nonexistent_noop
	must(t).ok(s.DeleteForRuns(ctx, nil))
	must(t).ok(s.DeleteForRuns(ctx, []string{"run-none"}))
}
