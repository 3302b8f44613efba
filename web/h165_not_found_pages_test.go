package web_test

import (
	"html"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/web"
)

// A page for something that is not in the store says "no ...": the
// library's `not found: checkpoint X in thread "t" namespace "ns"` lost
// its sentinel words on the page (the heading gives the status) and with
// them the "not": the page said only `checkpoint X in thread "demo"
// namespace "nope"`, as if that were the answer.
func TestH165NotFoundPagesSayNo(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	for _, tc := range []struct{ path, want string }{
		{"/checkpoint" + q("t", "demo", "id", f.ids[0], "ns", "nope"), `no checkpoint ` + f.ids[0] + ` in thread "demo" namespace "nope"`},
		{"/diff" + q("t", "demo", "ns", "nope", "a", f.ids[0], "b", f.ids[1]), `a: no checkpoint ` + f.ids[0] + ` in thread "demo" namespace "nope"`},
		{"/value" + q("t", "demo", "id", f.ids[0], "ch", "nope"), `has no channel "nope"`},
	} {
		code, body := c.get(tc.path)
		text := html.UnescapeString(errorText(body))
		if code != 404 || !strings.Contains(text, tc.want) || strings.Contains(text, "no no ") {
			t.Errorf("GET %s: %d %q, want 404 %q", tc.path, code, text, tc.want)
		}
	}
}
