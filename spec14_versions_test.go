package ckpt_test

// Issue 14, held-out specs: "A version is a promise about content", forks
// in the simple API, re-added channels after retention, on a namespaced
// thread, an encrypted store and a file upgraded from format 2.

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// spec14Conflict checks err is the typed version error naming the place.
func spec14Conflict(t *testing.T, err error, thread, ns, channel, version string) {
	t.Helper()
	var vc *ckpt.VersionConflictError
	if !errors.Is(err, ckpt.ErrVersionReused) || !errors.As(err, &vc) {
		t.Fatalf("err = %v, want a *VersionConflictError (ErrVersionReused)", err)
	}
	if errors.Is(err, ckpt.ErrConflict) || errors.Is(err, ckpt.ErrCorrupt) {
		t.Fatalf("err = %v: a version reuse is neither ErrConflict nor ErrCorrupt", err)
	}
	want := ckpt.VersionConflictError{Thread: thread, NS: ns, Channel: channel, Version: version}
	if *vc != want {
		t.Fatalf("error names %+v, want %+v", *vc, want)
	}
	for _, part := range []string{thread, ns, channel, version} {
		if part != "" && !strings.Contains(err.Error(), fmt.Sprintf("%q", part)) {
			t.Fatalf("%q does not name %q", err, part)
		}
	}
}

// spec14Dump is every checkpoint of a thread (all namespaces) with its
// values, metadata and pending writes: what "nothing written" compares.
func spec14Dump(t *testing.T, s ckpt.Saver, thread string) []string {
	t.Helper()
	var out []string
	for tp, err := range s.List(context.Background(), ckpt.ListOptions{ThreadID: thread}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, spec14Fingerprint(tp))
	}
	return out
}

// spec14VersionPromise runs the version specs against any Saver.
func spec14VersionPromise(t *testing.T, s ckpt.Saver) {
	ctx := context.Background()
	const thread, ns = "promise", "agent:7|tools"
	put := func(parent ckpt.Config, vals map[string]any, versions, newVersions map[string]string) (ckpt.Config, error) {
		return s.Put(ctx, parent, ckpt.Checkpoint{ChannelValues: vals, ChannelVersions: versions}, ckpt.Metadata{"n": len(versions)}, newVersions)
	}
	// A chain in a namespace: messages grow (a list), a plan map.
	c1, err := put(ckpt.Config{ThreadID: thread, CheckpointNS: ns},
		map[string]any{"messages": []any{"hi"}, "plan": map[string]any{"goal": "a"}},
		map[string]string{"messages": "1", "plan": "1"}, map[string]string{"messages": "1", "plan": "1"})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := put(c1, map[string]any{"messages": []any{"hi", "first answer"}},
		map[string]string{"messages": "2", "plan": "1"}, map[string]string{"messages": "2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, c2, []ckpt.Write{{Channel: "messages", Value: "pending"}}, "task-a", "p"); err != nil {
		t.Fatal(err)
	}
	// The same (channel, version) in another namespace and another thread
	// is another value: no conflict.
	if _, err := put(ckpt.Config{ThreadID: thread, CheckpointNS: "other"}, map[string]any{"messages": []any{"elsewhere"}},
		map[string]string{"messages": "2"}, map[string]string{"messages": "2"}); err != nil {
		t.Fatalf("same version in another namespace: %v", err)
	}
	if _, err := put(ckpt.Config{ThreadID: thread + "-2", CheckpointNS: ns}, map[string]any{"messages": []any{"elsewhere"}},
		map[string]string{"messages": "2"}, map[string]string{"messages": "2"}); err != nil {
		t.Fatalf("same version in another thread: %v", err)
	}
	before := spec14Dump(t, s, thread)
	head, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns})
	if err != nil {
		t.Fatal(err)
	}
	// A fork from c1 with the natural next version "2" and another value,
	// beside a new channel under a fresh version: refused whole.
	_, err = put(c1, map[string]any{"messages": []any{"hi", "second answer"}, "notes": "fresh"},
		map[string]string{"messages": "2", "plan": "1", "notes": "n1"}, map[string]string{"messages": "2", "notes": "n1"})
	spec14Conflict(t, err, thread, ns, "messages", "2")
	// The same through PutFull with pending writes: none stored either.
	if st, ok := s.(*ckpt.Store); ok {
		_, err = st.PutFull(ctx, c1, ckpt.Checkpoint{ChannelValues: map[string]any{"plan": map[string]any{"goal": "b"}}, ChannelVersions: map[string]string{"messages": "1", "plan": "1"}},
			nil, map[string]string{"plan": "1"}, []ckpt.TaskWrites{{TaskID: "task-b", Writes: []ckpt.Write{{Channel: "x", Value: 1}}}})
		spec14Conflict(t, err, thread, ns, "plan", "1")
	}
	if after := spec14Dump(t, s, thread); !reflect.DeepEqual(after, before) {
		t.Fatalf("a refused Put changed the thread:\n%v\nwant\n%v", after, before)
	}
	if h, err := s.GetTuple(ctx, ckpt.Config{ThreadID: thread, CheckpointNS: ns}); err != nil || h.Config != head.Config {
		t.Fatalf("the head moved after a refused Put: %v %v", h, err)
	}
	// Nothing of the refused Put was stored: "notes" under "n1" takes a
	// value of its own now.
	c3, err := put(c1, map[string]any{"notes": "other"}, map[string]string{"messages": "1", "plan": "1", "notes": "n1"}, map[string]string{"notes": "n1"})
	if err != nil {
		t.Fatalf("a version of a refused Put is taken: %v", err)
	}
	// The same bytes under an existing version are shared, as before.
	c4, err := put(c1, map[string]any{"messages": []any{"hi", "first answer"}}, map[string]string{"messages": "2", "plan": "1"}, map[string]string{"messages": "2"})
	if err != nil {
		t.Fatalf("identical value under an existing version: %v", err)
	}
	for _, c := range []struct {
		cfg  ckpt.Config
		want map[string]any
	}{
		{c1, map[string]any{"messages": []any{"hi"}, "plan": map[string]any{"goal": "a"}}},
		{c2, map[string]any{"messages": []any{"hi", "first answer"}, "plan": map[string]any{"goal": "a"}}},
		{c3, map[string]any{"messages": []any{"hi"}, "plan": map[string]any{"goal": "a"}, "notes": "other"}},
		{c4, map[string]any{"messages": []any{"hi", "first answer"}, "plan": map[string]any{"goal": "a"}}},
	} {
		tp, err := s.GetTuple(ctx, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]any{}
		for ch, v := range tp.Checkpoint.ChannelValues {
			g, err := v.(ckpt.Raw).Value()
			if err != nil {
				t.Fatal(err)
			}
			got[ch] = g
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%s reads %v, want %v", c.cfg.CheckpointID, got, c.want)
		}
	}
}

// TestSpec14VersionIsAPromiseInANamespace: on the bbolt store.
func TestSpec14VersionIsAPromiseInANamespace(t *testing.T) {
	t.Parallel()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "v.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spec14VersionPromise(t, s)
}

// TestSpec14VersionIsAPromiseEncrypted: the same on an encrypted store,
// where equal values seal to different bytes.
func TestSpec14VersionIsAPromiseEncrypted(t *testing.T) {
	t.Parallel()
	key := ckpt.Key{ID: 3, Secret: sha256.Sum256([]byte("promise"))}
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "v.db"), ckpt.Options{Durability: ckpt.NoSync, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	spec14VersionPromise(t, s)
}

// TestSpec14SaveSequencesReadBackExactly: 400 random steps on one thread
// of an encrypted store: saves that append to a list, change, drop and
// re-add channels; forks (Save with WriteOptions.Parent) from any earlier
// checkpoint still stored; now and then GC, Prune (keep latest) or
// Compact. After every step, every checkpoint still stored reads back
// exactly what was saved into it, and History from the head follows the
// parent chain.
func TestSpec14SaveSequencesReadBackExactly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := ckpt.Key{ID: 1, Secret: sha256.Sum256([]byte("sequences"))}
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "seq.db"), ckpt.Options{Durability: ckpt.NoSync, DeltaFold: 4, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{key}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(14, 2))
	const thread = "seq"
	saved := map[string]map[string]any{} // id -> state as decoded
	parents := map[string]string{}
	var ids []string
	steps := 400
	if testing.Short() {
		steps = 120
	}
	for step := range steps {
		var parent string
		if len(ids) > 0 {
			parent = ids[len(ids)-1]
			if sn, err := s.Latest(ctx, thread); err == nil {
				parent = sn.CheckpointID
			}
		}
		op := rng.IntN(20)
		switch {
		case op == 0 && len(ids) > 0:
			if _, err := s.GC(ctx, ckpt.Policy{KeepLast: 1 + rng.IntN(4)}); err != nil {
				t.Fatal(err)
			}
		case op == 1 && len(ids) > 0:
			if err := s.Prune(ctx, []string{thread}, ckpt.PruneKeepLatest); err != nil {
				t.Fatal(err)
			}
		case op == 2:
			if _, err := s.Compact(ctx, nil); err != nil {
				t.Fatal(err)
			}
		default:
			// Forget checkpoints retention removed.
			for _, id := range slices.Clone(ids) {
				if _, err := s.Load(ctx, thread, id); errors.Is(err, ckpt.ErrNotFound) {
					delete(saved, id)
					ids = slices.DeleteFunc(ids, func(x string) bool { return x == id })
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if len(ids) > 0 && (op < 6 || parent == "") {
				parent = ids[rng.IntN(len(ids))] // a fork
			}
			var from map[string]any
			if parent != "" {
				from = saved[parent]
			}
			state := map[string]any{}
			for k, v := range from {
				state[k] = v
			}
			msgs, _ := state["messages"].([]any)
			switch rng.IntN(6) {
			case 0:
				delete(state, "messages") // dropped, re-added later from scratch
			case 1:
				delete(state, "topic")
			case 2:
				state["topic"] = fmt.Sprintf("topic %d", rng.IntN(3)) // often a value seen before
			default:
				state["messages"] = append(slices.Clone(msgs), fmt.Sprintf("message %d", step))
			}
			if rng.IntN(3) == 0 {
				state["count"] = int64(rng.IntN(3))
			}
			c := ctx
			if parent != "" {
				c = ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Parent: parent})
			}
			id, err := s.Save(c, thread, state, ckpt.Metadata{"step": step})
			if err != nil {
				if parent != "" && errors.Is(err, ckpt.ErrNotFound) {
					continue // the parent went in this step's retention
				}
				t.Fatalf("step %d: Save: %v", step, err)
			}
			saved[id], parents[id] = state, parent
			ids = append(ids, id)
		}
		for _, id := range ids {
			sn, err := s.Load(ctx, thread, id)
			if errors.Is(err, ckpt.ErrNotFound) {
				continue // removed by this step's retention
			}
			if err != nil {
				t.Fatalf("step %d: Load %s: %v", step, id, err)
			}
			got, err := sn.StateMap()
			if err != nil {
				t.Fatal(err)
			}
			if want := saved[id]; !reflect.DeepEqual(got, want) {
				t.Fatalf("step %d: checkpoint %s reads %v, saved %v", step, id, got, want)
			}
		}
	}
	// History from the head follows parents and reads exactly.
	head, err := s.Latest(ctx, thread)
	if err != nil {
		t.Fatal(err)
	}
	want := head.CheckpointID
	for sn, err := range s.History(ctx, thread, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if sn.CheckpointID != want {
			t.Fatalf("History yields %s, want %s (the parent chain)", sn.CheckpointID, want)
		}
		want = parents[sn.CheckpointID]
		if _, ok := saved[want]; !ok {
			break // the parent went in retention
		}
	}
}

// TestSpec14UpgradedFileKeepsThePromise: a format-2 file (testdata),
// opened and upgraded, then each of its threads' newest checkpoints gets
// a child whose first channel is stored under the version it already has
// with another value: the typed error, nothing written; Save on it drops
// and re-adds a channel and reads back exactly.
func TestSpec14UpgradedFileKeepsThePromise(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.ckpt")
	copyFile(t, filepath.Join("testdata", "format2", "store.ckpt"), path)
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tried := 0
	for info, err := range s.Threads(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		head, err := s.GetTuple(ctx, ckpt.Config{ThreadID: info.ThreadID})
		if errors.Is(err, ckpt.ErrNotFound) {
			continue // no root namespace
		}
		if err != nil {
			t.Fatal(err)
		}
		var ch string
		for c := range head.Checkpoint.ChannelValues {
			if ch == "" || c < ch {
				ch = c
			}
		}
		if ch == "" {
			continue
		}
		before := spec14Dump(t, s, info.ThreadID)
		ver := head.Checkpoint.ChannelVersions[ch]
		_, err = s.Put(ctx, head.Config, ckpt.Checkpoint{ChannelValues: map[string]any{ch: "not what was stored"}, ChannelVersions: head.Checkpoint.ChannelVersions},
			nil, map[string]string{ch: ver})
		spec14Conflict(t, err, info.ThreadID, "", ch, ver)
		if after := spec14Dump(t, s, info.ThreadID); !reflect.DeepEqual(after, before) {
			t.Fatalf("thread %s: a refused Put changed the thread", info.ThreadID)
		}
		// Save on the old thread: drop the channel, then add it back.
		state, err := (&ckpt.Snapshot{State: rawState(head)}).StateMap()
		if err != nil {
			t.Fatal(err)
		}
		delete(state, ch)
		dropped, err := s.Save(ctx, info.ThreadID, state, nil)
		if err != nil {
			t.Fatal(err)
		}
		state[ch] = "added back"
		readded, err := s.Save(ctx, info.ThreadID, state, nil)
		if err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]any{dropped: nil, readded: "added back"} {
			sn, err := s.Load(ctx, info.ThreadID, id)
			if err != nil {
				t.Fatal(err)
			}
			got, err := sn.StateMap()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got[ch], want) {
				t.Fatalf("thread %s: channel %q reads %v, saved %v", info.ThreadID, ch, got[ch], want)
			}
		}
		tried++
	}
	if tried == 0 {
		t.Fatal("no thread of the format-2 file was tried")
	}
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("Verify: %v %v", rep.Problems, err)
	}
}

func rawState(tp *ckpt.Tuple) map[string]ckpt.Raw {
	out := map[string]ckpt.Raw{}
	for ch, v := range tp.Checkpoint.ChannelValues {
		out[ch] = v.(ckpt.Raw)
	}
	return out
}
