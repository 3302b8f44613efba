package web_test

import (
	"context"
	"html"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// The node budget of a page (20,000) bounds lists and maps, but a string
// is one node: the value page of a 4 MiB string channel was 4 MiB of HTML
// (and a 100 MB one would be 100 MB, built in the program that holds the
// store), one wrapped line the browser could not even screenshot whole.
// A page now draws at most the first 64 KiB of a string and says how many
// bytes it left out and how to get them; a shorter string is drawn whole.
func TestH234ValuePageCutsAHugeString(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "big.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	big := strings.Repeat("0123456789abcdef", 1<<18) // 4 MiB
	mid := strings.Repeat("m", 40<<10)               // 40 KiB: under the cut
	id, err := s.Save(ctx, "t", map[string]any{"big": big, "mid": mid}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, web.Handler(s, web.Options{}))
	code, body := c.get("/value" + q("t", "t", "id", id, "ch", "big"))
	if code != 200 {
		t.Fatalf("GET /value big: %d", code)
	}
	if len(body) > 1<<20 {
		t.Errorf("the value page of a 4 MiB string is %d bytes of HTML", len(body))
	}
	text := html.UnescapeString(body)
	if !strings.Contains(text, "4,128,768 more bytes") || !strings.Contains(text, "ckpt show") {
		i := strings.Index(text, "more")
		t.Errorf("the cut string does not say how many bytes are left out (4,128,768) and how to get them: %q", text[max(0, i-100):min(len(text), i+200)])
	}
	code, body = c.get("/value" + q("t", "t", "id", id, "ch", "mid"))
	if code != 200 || !strings.Contains(body, mid) || strings.Contains(body, "more bytes") {
		t.Errorf("GET /value mid: %d, a 40 KiB string not drawn whole", code)
	}
}
