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

// The diff page drew values whole: a 4 MiB string changed between two
// checkpoints was 8 MiB of HTML (both sides), while the value page cuts a
// string at 64 KiB (TestH234ValuePageCutsAHugeString). The diff page
// cuts the same way and says how many bytes it left out and how to get
// them; a string under the cut is drawn whole.
func TestH240DiffPageCutsAHugeString(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<18) // 4 MiB
	mid := strings.Repeat("m", 40<<10)               // 40 KiB: under the cut
	d := bigDiff(t, map[string]any{"big": big, "mid": "x"},
		map[string]any{"big": strings.ToUpper(big), "mid": mid, "added": []any{big}}, ckpt.Metadata{"note": big})
	a, c, body := d.a, d.c, d.body
	if len(body) > 2<<20 {
		t.Errorf("the diff page of 4 MiB strings is %d bytes of HTML", len(body))
	}
	text := html.UnescapeString(body)
	// Four cut strings: big's two sides, the added list's item, the metadata note.
	if n := strings.Count(text, "4,128,768 more bytes"); n != 4 {
		i := strings.Index(text, "more")
		t.Errorf("the diff page says %d times that 4,128,768 bytes are left out, want 4: %q", n, text[max(0, i-100):min(len(text), i+200)])
	}
	if !strings.Contains(text, "ckpt diff --json") {
		t.Errorf("the diff page does not say how to get the whole values (ckpt diff --json)")
	}
	if !strings.Contains(body, mid) {
		t.Errorf("a 40 KiB string is not drawn whole on the diff page")
	}
	// A small diff says nothing of cuts.
	_, body = c.get("/diff" + q("t", "t", "a", a, "b", a))
	if strings.Contains(body, "more bytes") {
		t.Errorf("a diff of nothing says bytes were left out")
	}
}

// bigDiffPage is what bigDiff made: its store, client, ids and page.
type bigDiffPage struct {
	s    *ckpt.Store
	c    *client
	a, b string // the two checkpoints' ids
	body string // GET /diff of a to b
}

// bigDiff draws the diff page of two checkpoints of thread "t" in a
// fresh NoSync store: first's state, then second's with metadata md.
func bigDiff(t *testing.T, first, second map[string]any, md ckpt.Metadata) bigDiffPage {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "big.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, err := s.Save(ctx, "t", first, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Save(ctx, "t", second, md)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, web.Handler(s, web.Options{}))
	code, body := c.get("/diff" + q("t", "t", "a", a, "b", b))
	if code != 200 {
		t.Fatalf("GET /diff: %d", code)
	}
	return bigDiffPage{s: s, c: c, a: a, b: b, body: body}
}
