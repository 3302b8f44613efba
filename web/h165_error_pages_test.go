package web_test

import (
	"html"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/web"
)

// The error pages a mistyped address gets say what is wrong in plain
// words, as TestErrorPagesSpeakPlainly wants of every page: a bad before,
// after or diff side said "before: ckpt: invalid config: ..." and "a:
// ckpt: not found: ...", the library's prefix and sentinel words after
// the parameter's name; and an unknown thread's page said only `thread
// "nope"`, its "no such" taken away with the sentinel's words.
func TestH165ErrorPagesOfBadParametersSpeakPlainly(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	for _, tc := range []struct{ path, want string }{
		{"/thread" + q("t", "demo", "before", "zz"), `before: "zz" is neither a checkpoint id nor the start of one`},
		{"/thread" + q("t", "demo", "before", "7ZZ"), `before: no checkpoint id starting with "7ZZ"`},
		{"/thread" + q("t", "demo", "after", "zz"), `after: "zz" is neither a checkpoint id nor the start of one`},
		{"/diff" + q("t", "demo", "a", "7ZZ", "b", "7ZZ"), `a: no checkpoint id starting with "7ZZ"`},
		{"/diff" + q("t", "demo", "a", "zz", "b", "7ZZ"), `a: "zz" is neither a checkpoint id nor the start of one`},
		{"/thread" + q("t", "nope"), `no thread "nope"`},
	} {
		code, body := c.get(tc.path)
		text := html.UnescapeString(errorText(body))
		if code < 400 || !strings.Contains(text, tc.want) {
			t.Errorf("GET %s: %d %q, want %q", tc.path, code, text, tc.want)
		}
		for _, jargon := range []string{"ckpt: ", "invalid config", "not found"} {
			if strings.Contains(text, jargon) {
				t.Errorf("GET %s: %q on the page: %q", tc.path, jargon, text)
			}
		}
	}
}
