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
// was opened read-only: the pages show no write form (each would only be
// refused after the user filled it in) but a note saying why, and every
// action, even one sent without the pages, is refused with 403 and nothing
// changes.
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
	if s.ReadOnly() {
		t.Error("a store opened for writing says it is read-only")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	if !ro.ReadOnly() {
		t.Error("a store opened with Options.ReadOnly does not say it is read-only")
	}
	on := newClient(t, web.Handler(ro, web.Options{AllowWrites: true}))
	for _, p := range []string{"/checkpoint" + q("t", "t", "id", id), "/thread" + q("t", "t"), "/"} {
		code, page := on.get(p)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", p, code, errorText(page))
		}
		for _, form := range []string{`action="/fork"`, `action="/copy"`, `action="/delete"`, `name="csrf"`, "write actions on"} {
			if strings.Contains(page, form) {
				t.Errorf("GET %s on a read-only store shows %s", p, form)
			}
		}
		if p != "/" && !strings.Contains(page, "opened read-only") {
			t.Errorf("GET %s on a read-only store does not say why it has no write forms", p)
		}
	}
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/delete", url.Values{"t": {"t"}}},
		{"/copy", url.Values{"t": {"t"}, "dst": {"t2"}}},
		{"/fork", url.Values{"t": {"t"}, "id": {id}, "state": {`{"n": 2}`}}},
	} {
		// No page carries a token now: a forged or stale one gets the same answer.
		c.form.Set("csrf", "00")
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
