package ckpt

import (
	"context"
	"fmt"
	"reflect"
	"testing"
)

// A List naming a thread and a namespace walks the thread's checkpoint
// bucket under the namespace's prefix (selector.inNS), any other List the
// history order. The two must agree: the same tuples, newest first, across
// pages (more than listPage), with Before, Limit and a filter, in a thread
// whose namespaces interleave, the namespace "" a prefix of the others'
// keys' ids only by length.
func TestListOfANamespaceAgreesWithTheHistoryOrder(t *testing.T) {
	t.Parallel()
	s := newInspectStore(t)
	ctx := context.Background()
	namespaces := []string{"", "a", "ab"}
	n := listPage + 20
	idsOf := map[string][]string{}
	parents := map[string]string{}
	for i := range n {
		for _, ns := range namespaces {
			cfg, err := s.Put(ctx, Config{ThreadID: "t", CheckpointNS: ns, CheckpointID: parents[ns]},
				Checkpoint{ChannelValues: map[string]any{"x": fmt.Sprint(ns, i)}, ChannelVersions: map[string]string{"x": version(i)}},
				Metadata{"step": i, "node": []string{"even", "odd"}[i%2]}, map[string]string{"x": version(i)})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutWrites(ctx, cfg, []Write{{Channel: "x", Value: i}}, "task", ""); err != nil {
				t.Fatal(err)
			}
			parents[ns] = cfg.CheckpointID
			idsOf[ns] = append(idsOf[ns], cfg.CheckpointID)
		}
	}
	list := func(opts ListOptions) []*Tuple {
		t.Helper()
		var out []*Tuple
		for tp, err := range s.List(ctx, opts) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tp)
		}
		return out
	}
	for _, ns := range namespaces {
		for _, c := range []struct {
			name   string
			before string
			limit  int
			filter map[string]any
		}{
			{"all", "", 0, nil},
			{"limit", "", 10, nil},
			{"before", idsOf[ns][n-5], 0, nil},
			{"before, limit over a page", idsOf[ns][n-3], listPage + 3, nil},
			{"filter", "", 0, map[string]any{"node": "odd"}},
			{"filter, before", idsOf[ns][n/2], 0, map[string]any{"node": "even"}},
			{"filter, a decoded match", "", 0, map[string]any{"step": uint8(3)}},
		} {
			t.Run(fmt.Sprintf("ns %q %s", ns, c.name), func(t *testing.T) {
				got := list(ListOptions{ThreadID: "t", Namespace: NS(ns), Before: c.before, Limit: c.limit, Filter: c.filter})
				// The history order, all namespaces, cut by hand.
				var want []*Tuple
				for _, tp := range list(ListOptions{ThreadID: "t", Before: c.before, Filter: c.filter}) {
					if tp.Config.CheckpointNS == ns && (c.limit == 0 || len(want) < c.limit) {
						want = append(want, tp)
					}
				}
				if len(want) == 0 {
					t.Fatal("the case lists nothing")
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("List in namespace %q: %d tuples, the history order %d; first %+v, want %+v", ns, len(got), len(want), got[0].Config, want[0].Config)
				}
			})
		}
	}
}
