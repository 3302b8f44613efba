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
	"testing"

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
		{"LangGraphPut", testLangGraphPut},
		{"LangGraphPutWrites", testLangGraphPutWrites},
		{"LangGraphGetTuple", testLangGraphGetTuple},
		{"LangGraphList", testLangGraphList},
		{"LangGraphSearch", testLangGraphSearch},
		{"LangGraphDeleteThread", testLangGraphDeleteThread},
		{"LangGraphCopyThread", testLangGraphCopyThread},
		{"LangGraphPrune", testLangGraphPrune},
		{"LangGraphDeleteForRuns", testLangGraphDeleteForRuns},
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
