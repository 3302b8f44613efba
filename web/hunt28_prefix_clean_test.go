package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/web"
)

// TestUncleanPathsStayUnderThePrefix: mounted under a prefix, a path with
// "..", "." or "//" after it was cleaned by the handler's ServeMux, which
// redirected to the clean path without the prefix: out of the history
// browser, to whatever the program serves at "/thread" or "/etc/passwd".
// The redirect keeps the prefix (and the query), as an unprefixed mount's.
func TestUncleanPathsStayUnderThePrefix(t *testing.T) {
	f := newFixture(t)
	on := newClient(t, web.Handler(f.store, web.Options{Prefix: "/debug/ckpt", MaxCPUShare: 1}))
	for p, want := range map[string]string{
		"/debug/ckpt/static/../thread?t=demo": "/debug/ckpt/thread?t=demo",
		"/debug/ckpt//stats":                  "/debug/ckpt/stats",
		"/debug/ckpt/./static/app.css":        "/debug/ckpt/static/app.css",
		"/debug/ckpt/static/%2e%2e/":          "/debug/ckpt/",
	} {
		code, _, h := on.do(mustGet(t, on, p))
		loc := h.Get("Location")
		if code/100 != 3 || loc != want {
			t.Errorf("%s: %d to %q, want a redirect to %q", p, code, loc, want)
		}
		if !strings.HasPrefix(loc, "/debug/ckpt/") {
			t.Errorf("%s: redirected out of the mount, to %q", p, loc)
		}
	}
}

func mustGet(t *testing.T, c *client, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", c.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
