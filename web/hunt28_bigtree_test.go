package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// maxDrawn is what the tests allow a page to draw of one value: the pages'
// node budget (web's pageNodes) and a margin for the containers.
const maxDrawn = 25_000

// nested returns outer lists of inner small integers: outer*inner items in
// about outer*inner bytes of msgpack.
func nested(outer, inner int) []any {
	out := make([]any, outer)
	for i := range out {
		l := make([]any, inner)
		for j := range l {
			l[j] = j % 100
		}
		out[i] = l
	}
	return out
}

// TestPagesDrawABoundedTree: a value of a few hundred KB of nested lists
// (small integers, a byte each) was drawn whole, every item a node of the
// page: the value page of a 2 MB value was 170 MB of HTML built in 15 s
// with 2.9 GB allocated, in the program that holds the store (one click on
// "load it"); a pending write, which the checkpoint page draws inline
// whatever its size, the same with up to 200 items a list at every level. A
// page draws a bounded number of nodes and says how many items it left
// out.
func TestPagesDrawABoundedTree(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "big.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	id, err := s.Save(ctx, "t", map[string]any{"big": nested(40, 1000)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deep := make([]any, 35)
	for i := range deep {
		deep[i] = nested(35, 35)
	}
	if err := s.PutWrites(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id}, []ckpt.Write{{Channel: "w", Value: deep}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	// MaxCPUShare 1: no pause after a build (the gate is not under test).
	on := newClient(t, web.Handler(s, web.Options{MaxCPUShare: 1}))
	for _, path := range []string{
		"/value" + q("t", "t", "id", id, "ch", "big", "fragment", "1"),
		"/checkpoint" + q("t", "t", "id", id),
	} {
		code, page := on.get(path)
		if code != 200 {
			t.Fatalf("%s: %d\n%s", path, code, errorText(page))
		}
		if n := strings.Count(page, `<div class="jl`); n > maxDrawn {
			t.Errorf("%s: %d leaves drawn (%d bytes of HTML), want at most %d", path, n, len(page), maxDrawn)
		}
		if !strings.Contains(page, "more</div>") {
			t.Errorf("%s: the page does not say that items were left out", path)
		}
	}
}
