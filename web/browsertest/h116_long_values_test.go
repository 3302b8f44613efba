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

// A thread whose last node is a long word (a generated name, a hash) made
// the threads page as wide as that word: the "last node" cell never
// wrapped, so the whole page, header included, scrolled sideways and the
// thread ids were squeezed into a column a few characters wide. Thread ids
// may be 1,024 bytes, and metadata is the app's.
func TestThreadsPageFitsTheWindowWithLongValues(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "long.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	long := strings.Repeat("L", 300)
	for _, th := range []string{"short", long} {
		if _, err := s.Save(ctx, th, map[string]any{"v": 1}, ckpt.Metadata{"node": long}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(web.Handler(s, web.Options{}))
	defer srv.Close()
	bctx, ev := browser(t)
	do(t, bctx, "threads page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#threads"))
	w := run(t, bctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	cw := run(t, bctx, "window width", chromedp.Evaluate[int](`document.documentElement.clientWidth`))
	if w > cw {
		t.Errorf("the threads page is %d px wide in a window of %d px: it scrolls sideways", w, cw)
	}
	ev.check(t)
}
