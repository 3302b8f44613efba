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

// Beside a long thread id and a long last node, the threads page broke
// the "last checkpoint" time over two lines ("2026-12-07" over
// "10:54:02.469 UTC") in every row, the long one's and the short ones'
// alike. A time is read whole: it stays on one line, and the long
// cells wrap instead.
func TestH234ThreadsPageKeepsATimeOnOneLine(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "long.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	long := strings.Repeat("x", 300)
	for _, th := range []string{"short", long} {
		if _, err := s.Save(ctx, th, map[string]any{"v": 1}, ckpt.Metadata{"node": long}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(web.Handler(s, web.Options{}))
	defer srv.Close()
	bctx, ev := browser(t)
	do(t, bctx, "threads page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#threads"))
	// The lines a cell's text takes: the line boxes of its text node.
	lines := run(t, bctx, "time lines", chromedp.Evaluate[[]int](`[...document.querySelectorAll("#threads tbody tr")].map(tr => {
		const td = tr.cells[tr.cells.length - 1];
		const r = document.createRange();
		r.selectNodeContents(td);
		return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size;
	})`))
	if len(lines) != 2 {
		t.Fatalf("%d rows, want 2", len(lines))
	}
	for i, n := range lines {
		if n != 1 {
			t.Errorf("row %d: the last checkpoint's time takes %d lines, want 1", i, n)
		}
	}
	w := run(t, bctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	cw := run(t, bctx, "window width", chromedp.Evaluate[int](`document.documentElement.clientWidth`))
	if w > cw {
		t.Errorf("the threads page is %d px wide in a window of %d px: it scrolls sideways", w, cw)
	}
	ev.check(t)
}
