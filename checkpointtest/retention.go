package checkpointtest

// Conformance tests of the retention methods: CopyThread, Prune and
// DeleteForRuns.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// history is what a thread holds, as seen through the Saver: every tuple
// newest first, decoded, with the thread id left out so two threads can be
// compared.
type historyItem struct {
	NS, ID, Parent string
	Values         map[string]any
	Versions       map[string]string
	Metadata       ckpt.Metadata
	Writes         []string
}

func history(t *testing.T, s ckpt.Saver, thread string) []historyItem {
	t.Helper()
	var out []historyItem
	for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread}) {
		if err != nil {
			t.Fatal(err)
		}
		it := historyItem{NS: tp.Config.CheckpointNS, ID: tp.Config.CheckpointID, Values: values(t, tp), Versions: tp.Checkpoint.ChannelVersions, Metadata: tp.Metadata}
		if tp.ParentConfig != nil {
			it.Parent = tp.ParentConfig.CheckpointID
			if tp.ParentConfig.ThreadID != thread || tp.ParentConfig.CheckpointNS != tp.Config.CheckpointNS {
				t.Fatalf("parent config %+v of %+v", tp.ParentConfig, tp.Config)
			}
		}
		for _, w := range tp.PendingWrites {
			it.Writes = append(it.Writes, fmt.Sprintf("%s/%s/%d/%s=%v", w.TaskPath, w.TaskID, w.Idx, w.Channel, must(t).val(w.Value.Value())))
		}
		out = append(out, it)
	}
	return out
}

// retentionFixture writes, in thread, namespaces "" and "sub", steps
// checkpoints each. Channel "ctx" is written once at step 0 and carried
// over by every later checkpoint (its value lives with the first one);
// "n" changes every step; "log" is a list that grows by one item per step
// (savers may store it as deltas on earlier versions). Each checkpoint has metadata run_id
// "<thread>-run-<step/2>" and one pending write. It returns the configs
// per namespace, oldest first.
func retentionFixture(t *testing.T, s ckpt.Saver, thread string, steps int) map[string][]ckpt.Config {
	t.Helper()
	out := map[string][]ckpt.Config{}
	for _, ns := range []string{"", "sub"} {
		parent := ckpt.Config{ThreadID: thread, CheckpointNS: ns}
		for step := range steps {
			cp := ckpt.Checkpoint{
				V:               4,
				ChannelValues:   map[string]any{"n": int64(step), "ctx": "context of " + thread + "/" + ns, "log": logItems(step)},
				ChannelVersions: map[string]string{"n": fmt.Sprint(step + 1), "ctx": "1", "log": fmt.Sprint(step + 1)},
			}
			newVersions := map[string]string{"n": fmt.Sprint(step + 1), "log": fmt.Sprint(step + 1)}
			if step == 0 {
				newVersions["ctx"] = "1"
			}
			md := ckpt.Metadata{"step": int64(step), "run_id": fmt.Sprintf("%s-run-%d", thread, step/2)}
			c := must(t).cfg(s.Put(ctx, parent, cp, md, newVersions))
			must(t).ok(s.PutWrites(ctx, c, []ckpt.Write{{Channel: "n", Value: int64(step + 1)}}, fmt.Sprintf("task-%d", step), "p"))
			out[ns] = append(out[ns], c)
			parent = c
		}
	}
	return out
}

// logItems is the "log" channel at a step: one item per step so far.
func logItems(step int) []any {
	out := make([]any, step+1)
	for i := range out {
		out[i] = fmt.Sprintf("entry %d", i)
	}
	return out
}

func testCopyThread(t *testing.T, s ckpt.Saver) {
	retentionFixture(t, s, "src", 4)
	other := retentionFixture(t, s, "other", 2)
	before := history(t, s, "src")
	otherBefore := history(t, s, "other")

	must(t).ok(s.CopyThread(ctx, "src", "dst", ckpt.CopyOptions{}))
	t.Run("copy equals source: order, namespaces, metadata, values, writes", func(t *testing.T) {
		if got := history(t, s, "dst"); !reflect.DeepEqual(got, before) {
			t.Fatalf("copy differs from source:\n got %+v\nwant %+v", got, before)
		}
		if got := history(t, s, "src"); !reflect.DeepEqual(got, before) {
			t.Fatalf("source changed by the copy")
		}
	})
	t.Run("copy is listed across threads", func(t *testing.T) {
		n := 0
		for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
			must(t).ok(err)
			if tp.Config.ThreadID == "dst" {
				n++
			}
		}
		if n != len(before) {
			t.Fatalf("global listing shows %d checkpoints of the copy, want %d", n, len(before))
		}
	})
	t.Run("copy is independent of the source", func(t *testing.T) {
		head := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "dst"}))
		next := must(t).cfg(s.Put(ctx, head.Config, ckpt.Checkpoint{ChannelValues: map[string]any{"n": int64(99)}, ChannelVersions: map[string]string{"n": "99", "ctx": "1", "log": "4"}}, nil, map[string]string{"n": "99"}))
		got := values(t, must(t).tuple(s.GetTuple(ctx, next)))
		if want := map[string]any{"n": int64(99), "ctx": "context of src/", "log": logItems(3)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("continued copy: %v, want %v", got, want)
		}
		must(t).ok(s.DeleteThread(ctx, "dst"))
		if got := history(t, s, "src"); !reflect.DeepEqual(got, before) {
			t.Fatalf("source changed by writes to the copy")
		}
	})
	t.Run("missing source is ErrNotFound", func(t *testing.T) {
		if err := s.CopyThread(ctx, "no-such-thread", "dst2", ckpt.CopyOptions{}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "dst2"}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Fatalf("failed copy created the destination: %v", err)
		}
	})
	t.Run("existing destination is ErrExists and is left alone", func(t *testing.T) {
		err := s.CopyThread(ctx, "src", "other", ckpt.CopyOptions{})
		if !errors.Is(err, ckpt.ErrExists) {
			t.Fatalf("err = %v, want ErrExists", err)
		}
		if got := history(t, s, "other"); !reflect.DeepEqual(got, otherBefore) {
			t.Fatalf("destination changed by a refused copy")
		}
	})
	t.Run("Replace overwrites the destination", func(t *testing.T) {
		must(t).ok(s.CopyThread(ctx, "src", "other", ckpt.CopyOptions{Replace: true}))
		if got := history(t, s, "other"); !reflect.DeepEqual(got, before) {
			t.Fatalf("replaced destination differs from source")
		}
		for _, c := range other[""] {
			if _, err := s.GetTuple(ctx, c); !errors.Is(err, ckpt.ErrNotFound) {
				t.Fatalf("old checkpoint %s of the destination survived Replace: %v", c.CheckpointID, err)
			}
		}
	})
	t.Run("empty thread ids are rejected", func(t *testing.T) {
		for _, pair := range [][2]string{{"", "x"}, {"src", ""}} {
			if err := s.CopyThread(ctx, pair[0], pair[1], ckpt.CopyOptions{}); !errors.Is(err, ckpt.ErrInvalidConfig) {
				t.Errorf("CopyThread(%q, %q): %v, want ErrInvalidConfig", pair[0], pair[1], err)
			}
		}
	})
}

func testPruneKeepLatest(t *testing.T, s ckpt.Saver) {
	a := retentionFixture(t, s, "a", 5)
	retentionFixture(t, s, "b", 3)
	bBefore := history(t, s, "b")

	must(t).ok(s.Prune(ctx, []string{"a", "unknown-thread"}, ckpt.PruneKeepLatest))

	got := history(t, s, "a")
	if len(got) != 2 {
		t.Fatalf("after prune thread a holds %d checkpoints, want 2 (one per namespace): %+v", len(got), got)
	}
	for _, ns := range []string{"", "sub"} {
		cfgs := a[ns]
		head := cfgs[len(cfgs)-1]
		t.Run("newest of namespace "+ns+" is whole", func(t *testing.T) {
			tp := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "a", CheckpointNS: ns}))
			if tp.Config != head {
				t.Fatalf("head %+v, want %+v", tp.Config, head)
			}
			// "ctx" was written by the first (now deleted) checkpoint.
			want := map[string]any{"n": int64(4), "ctx": "context of a/" + ns, "log": logItems(4)}
			if v := values(t, tp); !reflect.DeepEqual(v, want) {
				t.Fatalf("values %v, want %v", v, want)
			}
			if len(tp.PendingWrites) != 1 || tp.PendingWrites[0].TaskID != "task-4" {
				t.Fatalf("pending writes of the kept checkpoint: %+v", tp.PendingWrites)
			}
			if tp.Metadata["run_id"] != "a-run-2" {
				t.Fatalf("metadata %v", tp.Metadata)
			}
			// The parent is still reported, but is gone.
			if tp.ParentConfig == nil || *tp.ParentConfig != cfgs[len(cfgs)-2] {
				t.Fatalf("parent config %+v, want %+v", tp.ParentConfig, cfgs[len(cfgs)-2])
			}
			if _, err := s.GetTuple(ctx, *tp.ParentConfig); !errors.Is(err, ckpt.ErrNotFound) {
				t.Fatalf("pruned parent: %v, want ErrNotFound", err)
			}
			for _, c := range cfgs[:len(cfgs)-1] {
				if _, err := s.GetTuple(ctx, c); !errors.Is(err, ckpt.ErrNotFound) {
					t.Fatalf("pruned checkpoint %s still readable: %v", c.CheckpointID, err)
				}
			}
			// The run goes on from the kept head.
			next := must(t).cfg(s.Put(ctx, head, ckpt.Checkpoint{ChannelValues: map[string]any{}, ChannelVersions: map[string]string{"n": "5", "ctx": "1"}}, nil, nil))
			if v := values(t, must(t).tuple(s.GetTuple(ctx, next))); v["ctx"] != "context of a/"+ns {
				t.Fatalf("child of the kept head lost ctx: %v", v)
			}
		})
	}
	t.Run("other threads untouched", func(t *testing.T) {
		if got := history(t, s, "b"); !reflect.DeepEqual(got, bBefore) {
			t.Fatalf("thread b changed")
		}
	})
	t.Run("pruned checkpoints are gone from the global listing", func(t *testing.T) {
		for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
			must(t).ok(err)
			for _, c := range a[""][:4] {
				if tp.Config == c {
					t.Fatalf("pruned %+v still listed", c)
				}
			}
		}
	})
	t.Run("empty list is a no-op", func(t *testing.T) {
		before := history(t, s, "b")
		must(t).ok(s.Prune(ctx, nil, ckpt.PruneKeepLatest))
		must(t).ok(s.Prune(ctx, []string{}, ckpt.PruneDelete))
		if got := history(t, s, "b"); !reflect.DeepEqual(got, before) {
			t.Fatalf("empty prune changed data")
		}
	})
	t.Run("bad thread id is rejected before anything", func(t *testing.T) {
		before := history(t, s, "b")
		if err := s.Prune(ctx, []string{"b", ""}, ckpt.PruneDelete); !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Fatalf("err = %v, want ErrInvalidConfig", err)
		}
		if got := history(t, s, "b"); !reflect.DeepEqual(got, before) {
			t.Fatalf("rejected prune changed data")
		}
	})
}

func testPruneDelete(t *testing.T, s ckpt.Saver) {
	retentionFixture(t, s, "a", 3)
	retentionFixture(t, s, "b", 3)
	retentionFixture(t, s, "c", 2)
	cBefore := history(t, s, "c")
	must(t).ok(s.Prune(ctx, []string{"a", "b", "never"}, ckpt.PruneDelete))
	for _, thread := range []string{"a", "b"} {
		if h := history(t, s, thread); len(h) != 0 {
			t.Errorf("thread %s still holds %d checkpoints", thread, len(h))
		}
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: "sub"}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Errorf("thread %s: %v, want ErrNotFound", thread, err)
		}
	}
	if got := history(t, s, "c"); !reflect.DeepEqual(got, cBefore) {
		t.Fatalf("thread c changed")
	}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		must(t).ok(err)
		if tp.Config.ThreadID != "c" {
			t.Fatalf("deleted thread still listed: %+v", tp.Config)
		}
	}
	// A deleted thread can start again from scratch.
	c := must(t).cfg(s.Put(ctx, ckpt.Config{ThreadID: "a"}, emptyCheckpoint(), nil, nil))
	if tp := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "a"})); tp.Config != c || len(tp.PendingWrites) != 0 || len(tp.Checkpoint.ChannelValues) != 0 {
		t.Fatalf("restarted thread %+v", tp)
	}
}

func testDeleteForRuns(t *testing.T, s ckpt.Saver) {
	// Runs of thread x: x-run-0 = steps 0,1; x-run-1 = steps 2,3; x-run-2 = step 4.
	x := retentionFixture(t, s, "x", 5)
	y := retentionFixture(t, s, "y", 4)
	yBefore := history(t, s, "y")

	must(t).ok(s.DeleteForRuns(ctx, []string{"x-run-0", "x-run-2", "no-such-run"}))

	t.Run("only the listed runs go, in every namespace", func(t *testing.T) {
		var ids []string
		for _, it := range history(t, s, "x") {
			ids = append(ids, it.NS+"/"+fmt.Sprint(it.Metadata["run_id"]))
		}
		want := []string{"sub/x-run-1", "sub/x-run-1", "/x-run-1", "/x-run-1"}
		if !slices.Equal(ids, want) {
			t.Fatalf("left %v, want %v", ids, want)
		}
	})
	t.Run("kept checkpoints load whole", func(t *testing.T) {
		for _, ns := range []string{"", "sub"} {
			for step := 2; step <= 3; step++ {
				tp := must(t).tuple(s.GetTuple(ctx, x[ns][step]))
				want := map[string]any{"n": int64(step), "ctx": "context of x/" + ns, "log": logItems(step)}
				if v := values(t, tp); !reflect.DeepEqual(v, want) {
					t.Fatalf("ns %q step %d: values %v, want %v", ns, step, v, want)
				}
				if len(tp.PendingWrites) != 1 || tp.PendingWrites[0].TaskID != fmt.Sprintf("task-%d", step) {
					t.Fatalf("ns %q step %d: writes %+v", ns, step, tp.PendingWrites)
				}
			}
			// The head went with its run: the newest left is step 3.
			head := must(t).tuple(s.GetTuple(ctx, ckpt.Config{ThreadID: "x", CheckpointNS: ns}))
			if head.Config != x[ns][3] {
				t.Fatalf("ns %q: newest %+v, want %+v", ns, head.Config, x[ns][3])
			}
			if _, err := s.GetTuple(ctx, *must(t).tuple(s.GetTuple(ctx, x[ns][2])).ParentConfig); !errors.Is(err, ckpt.ErrNotFound) {
				t.Fatalf("ns %q: deleted parent: %v, want ErrNotFound", ns, err)
			}
		}
	})
	t.Run("other threads untouched", func(t *testing.T) {
		if got := history(t, s, "y"); !reflect.DeepEqual(got, yBefore) {
			t.Fatalf("thread y changed")
		}
	})
	t.Run("deleted checkpoints are gone from the global listing", func(t *testing.T) {
		n := 0
		for tp, err := range s.List(ctx, ckpt.ListOptions{Filter: map[string]any{"run_id": "x-run-0"}}) {
			must(t).ok(err)
			n++
			_ = tp
		}
		if n != 0 {
			t.Fatalf("%d checkpoints of a deleted run still listed", n)
		}
	})
	t.Run("empty list is a no-op", func(t *testing.T) {
		must(t).ok(s.DeleteForRuns(ctx, nil))
		if got := history(t, s, "y"); !reflect.DeepEqual(got, yBefore) {
			t.Fatalf("empty DeleteForRuns changed data")
		}
	})
	t.Run("deleting every run of a thread removes it", func(t *testing.T) {
		must(t).ok(s.DeleteForRuns(ctx, []string{"y-run-0", "y-run-1"}))
		if h := history(t, s, "y"); len(h) != 0 {
			t.Fatalf("thread y holds %d checkpoints", len(h))
		}
		if _, err := s.GetTuple(ctx, y[""][3]); !errors.Is(err, ckpt.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}
