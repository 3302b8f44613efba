package browsertest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// The layout tests' shared steps: a store without fsyncs, a server over
// it, and the two things they measure on a page (its width against the
// window's, the lines a cell's text takes).

// openNoSync opens a new store, name in the test's temporary directory,
// without fsyncs (nothing here survives the test); the test's end closes
// it.
func openNoSync(t *testing.T, name string) *ckpt.Store {
	t.Helper()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), name), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serve serves the history browser over s until the test's end: closed
// after the browser (cleanups run last first), which may hold a stream
// open until then.
func serve(t *testing.T, s *ckpt.Store) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(web.Handler(s, web.Options{}))
	t.Cleanup(srv.Close)
	return srv
}

// longRowsServer serves a store of two threads, "short" and one whose id
// is 300 fill characters, each with that long id as its last node: the
// threads page's long cells beside short ones.
func longRowsServer(t *testing.T, fill string) *httptest.Server {
	t.Helper()
	ctx := context.Background()
	s := openNoSync(t, "long.db")
	long := strings.Repeat(fill, 300)
	for _, th := range []string{"short", long} {
		if _, err := s.Save(ctx, th, map[string]any{"v": 1}, ckpt.Metadata{"node": long}); err != nil {
			t.Fatal(err)
		}
	}
	return serve(t, s)
}

// checkFitsWindow fails the test if the page open in bctx (named page in
// the failure) is wider than the window: it scrolls sideways.
func checkFitsWindow(t *testing.T, bctx context.Context, page string) {
	t.Helper()
	w := run(t, bctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	cw := run(t, bctx, "window width", chromedp.Evaluate[int](`document.documentElement.clientWidth`))
	if w > cw {
		t.Errorf("the %s is %d px wide in a window of %d px: it scrolls sideways", page, w, cw)
	}
}

// checkOneLine fails the test unless the page open in bctx has rows rows
// (a selector) and, in each, the text of the cell cell (a JavaScript
// expression of the row, tr) takes one line: the line boxes of its text
// nodes all stand at one height. what names the cell in the failure.
func checkOneLine(t *testing.T, bctx context.Context, what, rows, cell string, want int) {
	t.Helper()
	lines := run(t, bctx, what+" lines", chromedp.Evaluate[[]int](`[...document.querySelectorAll(`+strconv.Quote(rows)+`)].map(tr => {
		const td = `+cell+`;
		const r = document.createRange();
		r.selectNodeContents(td);
		return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size;
	})`))
	if len(lines) != want {
		t.Fatalf("%d rows, want %d", len(lines), want)
	}
	for i, n := range lines {
		if n != 1 {
			t.Errorf("row %d: %s takes %d lines, want 1", i, what, n)
		}
	}
}
