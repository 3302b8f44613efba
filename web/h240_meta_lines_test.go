package web_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// A metadata value of several lines (a "reason" a model wrote) went into
// its cell as it is: the browser draws a newline in running text as a
// space, so the lines ran together into one sentence ("first line second
// line"), and the threads page's last node too. The cells now mark each
// line break, the title keeps the value as it is, and markup in a line
// stays text. (web/browsertest's TestH240MetadataOfSeveralLinesReadsAsLines
// looks at what Chromium draws.)
func TestH240MetadataCellsMarkLineBreaks(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "lines.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const reason = "first line\nsecond line\r\n<b>third</b> line"
	if _, err := s.Save(ctx, "lines", map[string]any{"v": 1}, ckpt.Metadata{"reason": reason, "node": "a\nb"}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, web.Handler(s, web.Options{}))
	// The cell whose title starts with title (kept as html/template
	// writes it: a newline in an attribute as it is).
	clip := func(body, title string) string {
		i := strings.Index(body, `title="`+title)
		if i < 0 {
			t.Fatalf("no cell titled %q:\n%.3000s", title, body)
		}
		cell := body[i:]
		cell = cell[strings.Index(cell, ">")+1:]
		return cell[:strings.Index(cell, "</td>")]
	}
	_, body := c.get("/thread" + q("t", "lines"))
	for _, tc := range []struct{ title, first, second string }{
		{"first line", "first line", "second line"},
		{"a\nb\"", "a", "b"},
	} {
		cell := clip(body, tc.title)
		if strings.ContainsAny(cell, "\r\n") {
			t.Errorf("cell %q: a raw line break in the cell: %q", tc.title, cell)
		}
		a, b := strings.Index(cell, tc.first), strings.Index(cell, tc.second)
		if a < 0 || b < 0 || !strings.Contains(cell[a:b], `class="nl"`) {
			t.Errorf("cell %q: no line break marked between %q and %q: %q", tc.title, tc.first, tc.second, cell)
		}
	}
	if strings.Contains(body, "<b>third") || !strings.Contains(body, "&lt;b&gt;third&lt;/b&gt; line</div>") {
		t.Errorf("the markup of the value is not text on the page")
	}
	_, body = c.get("/")
	i := strings.Index(body, `>lines</a>`)
	if i < 0 || !strings.Contains(body[i:], `a<span class="nl"`) {
		t.Errorf("threads page: the last node's line break is not marked:\n%.3000s", body[max(0, i):])
	}
}
