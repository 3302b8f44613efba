package web_test

import (
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/web"
)

// /thread?before=zzz answered 400 "before: not found: no checkpoint id
// starting with "zzz"": no checkpoint id can start so (an id's first
// character is 0-7: 48 bits of time in 10 characters), so the answer is
// that it is not a checkpoint id, not that none was found.
func TestBeforeThatCannotBeAnIDSaysSo(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	for _, before := range []string{"zzz", "Z", "8", "9ZZZZ", strings.Repeat("Z", 26), "01-", "!"} {
		code, body := c.get("/thread" + q("t", "demo", "before", before))
		if code != 400 || strings.Contains(body, "not found") || !strings.Contains(body, "is neither a checkpoint id nor the start of one") {
			t.Errorf("before=%q: %d, want 400 saying it is neither a checkpoint id nor the start of one:\n%s", before, code, errorText(body))
		}
	}
	// A prefix that could start an id and starts none is not found.
	if code, body := c.get("/thread" + q("t", "demo", "before", "7ZZ")); code != 400 || !strings.Contains(body, "no checkpoint id starting with") {
		t.Errorf("before=7ZZ: %d\n%s", code, errorText(body))
	}
}
