package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestValuePageWithoutAChannelIsABadRequest: /value without ch (a link
// cut short, a hand-made URL) answered 404 `has no channel ""`, as if the
// checkpoint were missing something; it is a request without the
// argument the page needs: 400, naming ch and the channels there are. A
// channel the checkpoint does not have stays 404, naming them too.
func TestValuePageWithoutAChannelIsABadRequest(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "v.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	id, err := s.Save(ctx, "t", map[string]any{"notes": "n", "plan": "p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	on := newClient(t, web.Handler(s, web.Options{}))
	code, page := on.get("/value" + q("t", "t", "id", id))
	if text := errorText(page); code != 400 || !strings.Contains(text, "ch") || !strings.Contains(text, "notes") || !strings.Contains(text, "plan") {
		t.Fatalf("/value without ch: %d %q, want 400 naming ch and the channels", code, text)
	}
	code, page = on.get("/value" + q("t", "t", "id", id, "ch", "nope"))
	if text := errorText(page); code != 404 || !strings.Contains(text, "nope") || !strings.Contains(text, "notes") {
		t.Fatalf("/value of a channel not there: %d %q, want 404 naming it and the channels there are", code, text)
	}
	if code, _ := on.get("/value" + q("t", "t", "id", id, "ch", "notes")); code != 200 {
		t.Fatalf("/value of a channel there: %d", code)
	}
}
