package ckpt

import (
	"context"
	"fmt"
	"reflect"
	"testing"
)

// A List page gathers a list channel's items from the segments an earlier
// tuple of the page read (lineageMemo) when they hold enough items. Every
// tuple must still hold what GetTuple (which reads its segments itself)
// gives for it: lists that grow, forks from older checkpoints that grow
// other items on the same prefix, a list cut shorter, lists that grow
// longer again after a shorter one, more list channels than the reader
// remembers lineages (maxLineageMemos), and enough items that a
// lineage has several segments.
func TestListedListValuesEqualGetTuples(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	ctx := context.Background()
	const channels = maxLineageMemos + 2
	type state struct {
		id    string
		lists [channels][]string
	}
	ver := 0              // a version names one value: every Put gives new ones
	thread, ids := "t", 0 // ids > 0: each Put gets an id older than the one before
	put := func(parent state, step int, grow func(ch int, l []string) []string) state {
		t.Helper()
		ver++
		next := state{}
		values := map[string]any{}
		versions := map[string]string{}
		for ch := range channels {
			next.lists[ch] = grow(ch, append([]string(nil), parent.lists[ch]...))
			name := fmt.Sprint("list", ch)
			values[name] = next.lists[ch]
			versions[name] = version(ver)
		}
		cp := Checkpoint{ChannelValues: values, ChannelVersions: versions}
		if ids > 0 {
			ids--
			cp.ID = idString([idLen]byte{0, 0, 0, 0, 1, byte(ids)})
		}
		cfg, err := s.Put(ctx, Config{ThreadID: thread, CheckpointID: parent.id}, cp, Metadata{"step": step}, versions)
		if err != nil {
			t.Fatal(err)
		}
		next.id = cfg.CheckpointID
		return next
	}
	appendN := func(tag string, n int) func(int, []string) []string {
		return func(ch int, l []string) []string {
			for i := range n {
				l = append(l, fmt.Sprintf("%s item %d of channel %d, after %d: %0200d", tag, i, ch, len(l), len(l)))
			}
			return l
		}
	}
	var trunk []state
	cur := state{}
	for step := range 40 {
		cur = put(cur, step, appendN("trunk", 1+step%3))
		trunk = append(trunk, cur)
	}
	fork := trunk[10]
	for step := range 15 { // a fork on the trunk's first items
		fork = put(fork, 100+step, appendN("fork", 2))
	}
	short := put(cur, 200, func(_ int, l []string) []string { return l[:3] }) // cut shorter
	for step := range 5 {
		short = put(short, 201+step, appendN("regrown", 4))
	}
	_ = put(trunk[5], 300, appendN("late", 30)) // newest: a long list from an old prefix
	// A thread whose ids go back in time: List reads its lineages' shortest
	// prefix first, then longer ones (the memory does not cover them).
	thread, ids, cur = "r", 250, state{}
	for step := range 40 {
		cur = put(cur, step, appendN("backwards", 1+step%3))
	}
	n := 0
	for tp, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		want, err := s.GetTuple(ctx, tp.Config)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(tp.Checkpoint.ChannelValues, want.Checkpoint.ChannelValues) {
			for ch, v := range tp.Checkpoint.ChannelValues {
				var got, exp []string
				_ = v.(Raw).Decode(&got)
				_ = want.Checkpoint.ChannelValues[ch].(Raw).Decode(&exp)
				if !reflect.DeepEqual(got, exp) {
					t.Fatalf("checkpoint %s (step %v) channel %s: List gives %d items, GetTuple %d", tp.Config.CheckpointID, tp.Metadata["step"], ch, len(got), len(exp))
				}
			}
			t.Fatalf("checkpoint %s: List's values differ from GetTuple's", tp.Config.CheckpointID)
		}
	}
	if want := 40 + 15 + 6 + 1 + 40; n != want {
		t.Fatalf("List gave %d checkpoints, want %d", n, want)
	}
}
