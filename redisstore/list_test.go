package redisstore

import (
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt"
)

func TestListPagesThroughLongHistories(t *testing.T) {
	s := newTestStore(t, sharedServer(t), Options{})
	const n = 3*listPage + 7
	var all []string // newest first
	parent := ckpt.Config{ThreadID: "long"}
	for i := range n {
		c, err := s.Put(bg, parent, ckpt.Checkpoint{}, ckpt.Metadata{"third": i%3 == 0}, nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append([]string{c.CheckpointID}, all...)
		parent = c
	}
	var thirds []string
	for i, id := range all {
		if (n-1-i)%3 == 0 {
			thirds = append(thirds, id)
		}
	}
	for _, tc := range []struct {
		name string
		opts ckpt.ListOptions
		want []string
	}{
		{"everything", ckpt.ListOptions{ThreadID: "long"}, all},
		{"across threads", ckpt.ListOptions{}, all},
		{"one namespace", ckpt.ListOptions{ThreadID: "long", Namespace: ckpt.NS("")}, all},
		{"limit over a page", ckpt.ListOptions{ThreadID: "long", Limit: listPage + 5}, all[:listPage+5]},
		{"before", ckpt.ListOptions{ThreadID: "long", Before: all[100]}, all[101:]},
		{"before, namespace", ckpt.ListOptions{ThreadID: "long", Namespace: ckpt.NS(""), Before: all[100]}, all[101:]},
		{"filter", ckpt.ListOptions{ThreadID: "long", Filter: map[string]any{"third": true}}, thirds},
		{"filter and limit", ckpt.ListOptions{Filter: map[string]any{"third": true}, Limit: 40}, thirds[:40]},
	} {
		if got := ids(t, s, tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %d ids, want %d (first difference matters)", tc.name, len(got), len(tc.want))
		}
	}
}
