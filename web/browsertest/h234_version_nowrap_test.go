package browsertest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// Save versions a channel by the checkpoint's ULID (26 characters). Beside
// a long value, the checkpoint page's version column shrank to a few
// characters and broke each ULID over four lines ("01M98278" over
// "R4H3P1ZJ" ...), in every row. A version is an id, read whole: one up
// to 64 bytes (a ULID, LangGraph's 32 digits and a fraction) stays on one
// line; the value's cell wraps instead.
func TestH234CheckpointPageKeepsAVersionOnOneLine(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "long.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.Save(ctx, "t", map[string]any{"long": strings.Repeat("W", 3000), "small": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler(s, web.Options{}))
	defer srv.Close()
	bctx, ev := browser(t)
	do(t, bctx, "checkpoint page", chromedp.Navigate(srv.URL+"/checkpoint?t=t&id="+id), chromedp.WaitVisible("table.state"))
	lines := run(t, bctx, "version lines", chromedp.Evaluate[[]int](`[...document.querySelectorAll("table.state tbody tr")].map(tr => {
		const r = document.createRange();
		r.selectNodeContents(tr.cells[1]);
		return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size;
	})`))
	if len(lines) != 2 {
		t.Fatalf("%d rows, want 2", len(lines))
	}
	for i, n := range lines {
		if n != 1 {
			t.Errorf("row %d: the version takes %d lines, want 1", i, n)
		}
	}
	w := run(t, bctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	cw := run(t, bctx, "window width", chromedp.Evaluate[int](`document.documentElement.clientWidth`))
	if w > cw {
		t.Errorf("the checkpoint page is %d px wide in a window of %d px: it scrolls sideways", w, cw)
	}
	ev.check(t)
}
