package web_test

import (
	"context"
	"fmt"
	"html"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// The diff page cut long strings (TestH240DiffPageCutsAHugeString) but
// drew every item of a list and every key of a map: a list of 100,000
// small items, changed or appended, or a map of as many keys, was
// megabytes of HTML built in the program that holds the store. The page
// now draws the first items of each, as the value page does, and says
// how many more it left out and how to get them.
func TestH243DiffPageCutsLongListsAndMaps(t *testing.T) {
	const n = 100_000
	long := make([]any, n)
	keys := make(map[string]any, n)
	for i := range n {
		long[i] = i
		keys[fmt.Sprintf("key-%06d", i)] = i
	}
	d := bigDiff(t, map[string]any{"changed": []any{"x"}, "grown": []any{}, "small": []any{1, 2}},
		map[string]any{"changed": long, "grown": long, "keys": keys, "small": []any{1, 2, 3}}, ckpt.Metadata{"big": long})
	s, a, c, body := d.s, d.a, d.c, d.body
	if len(body) > 256<<10 {
		t.Errorf("the diff page of lists and a map of %d items is %d bytes of HTML", n, len(body))
	}
	text := html.UnescapeString(body)
	if !strings.Contains(text, "100,000 items appended") {
		t.Errorf("the diff page does not say 100,000 items were appended")
	}
	if !strings.Contains(text, "more items not drawn") || !strings.Contains(text, "ckpt diff --json") {
		i := strings.Index(text, "more")
		t.Errorf("the diff page does not say items were left out and how to get them: %q", text[max(0, i-100):min(len(text), i+200)])
	}
	// Four values cut to their first 200 items: the changed list, the
	// appended items, the map, the metadata list.
	if n := strings.Count(text, "99,800 more items not drawn"); n != 4 || !strings.Contains(text, "key-000199") || strings.Contains(text, "key-000200") {
		t.Errorf("the diff page says %d times that 99,800 items are left out (want 4), or does not draw the first 200 keys alone", n)
	}
	// A small change is drawn whole, and says nothing of items left out.
	_, body = c.get("/diff" + q("t", "t", "a", a, "b", a))
	if strings.Contains(body, "more items") {
		t.Errorf("a diff of nothing says items were left out")
	}
	small, err := s.Save(context.Background(), "t", map[string]any{"changed": []any{"y"}, "grown": []any{}, "small": []any{9, 8, 7, 6}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, body = c.get("/diff" + q("t", "t", "a", a, "b", small))
	if strings.Contains(body, "more items") || !strings.Contains(body, "[9,8,7,6]") {
		t.Errorf("a small list's diff is cut, or not drawn whole")
	}
}
