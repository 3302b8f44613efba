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

// The value page of channel "a" of a checkpoint whose channel "b" is
// damaged said only that "b" was damaged: the person who asked for "a"
// read about another channel and not a word of theirs (the CLI's `show
// --channel` says both). The page names the channel asked for and says
// the checkpoint does not read whole.
func TestValuePageOfADamagedCheckpointNamesTheChannelAskedFor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const markB = "B-VALUE-9f3c1e7a5d"
	id, err := s.Save(ctx, "th", map[string]any{"alpha": "the value of alpha", "beta": markB}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ro := closeAndDamage(t, s, path, markB, "B-VALUE-XXXXXXXXXX")
	c := newClient(t, web.Handler(ro, web.Options{}))
	code, body := c.get("/value?" + url.Values{"t": {"th"}, "id": {id}, "ch": {"alpha"}}.Encode())
	if code < 400 {
		t.Fatalf("value of a checkpoint that does not read whole: status %d", code)
	}
	if !strings.Contains(body, `channel &#34;alpha&#34;`) && !strings.Contains(body, `channel "alpha"`) {
		t.Errorf("the page does not name the channel asked for (alpha):\n%.2000s", body)
	}
	if !strings.Contains(body, "does not read whole") {
		t.Errorf("the page does not say the checkpoint does not read whole:\n%.2000s", body)
	}
	if !strings.Contains(body, "beta") {
		t.Errorf("the page does not name the damaged channel (beta):\n%.2000s", body)
	}
}
