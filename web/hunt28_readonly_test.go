package web_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestWriteActionsOnAReadOnlyHandle: AllowWrites on a handler whose store
// was opened read-only: every action, sent with the page's token, is
// refused with 403 and nothing changes. (The pages still show the forms:
// the store has no accessor that says it is read-only.)
func TestWriteActionsOnAReadOnlyHandle(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "t", map[string]any{"n": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	on := newClient(t, web.Handler(ro, web.Options{AllowWrites: true}))
	_, page := on.get("/checkpoint" + q("t", "t", "id", id))
	_, thread := on.get("/thread" + q("t", "t"))
	tok := csrfRE.FindStringSubmatch(page + thread)
	if tok == nil {
		t.Fatal("no CSRF token on the pages")
	}
	token := tok[1]
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/delete", url.Values{"t": {"t"}}},
		{"/copy", url.Values{"t": {"t"}, "dst": {"t2"}}},
		{"/fork", url.Values{"t": {"t"}, "id": {id}, "state": {`{"n": 2}`}}},
	} {
		c.form.Set("csrf", token)
		code, body, _ := on.post(c.path, c.form, nil)
		if code != 403 || !strings.Contains(body, "read-only") {
			t.Errorf("%s on a read-only handle: %d %s, want 403 saying read-only", c.path, code, errorText(body))
		}
	}
	n := 0
	for _, err := range ro.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("%d checkpoints after refused actions, want 1", n)
	}
}
