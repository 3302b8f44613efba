package browsertest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// The first page of a thread follows new checkpoints (docs/browser.md:
// "the first page follows new checkpoints as they arrive"): the rows did,
// but the summary above them kept the count and the newest time of when
// the page was loaded ("3 checkpoints" over six rows).
func TestLiveThreadPageKeepsItsSummaryCurrent(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "live.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	save := func(i int) {
		if _, err := s.Save(ctx, "live", map[string]any{"i": i}, ckpt.Metadata{"step": i, "node": "n"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		save(i)
	}
	srv := httptest.NewServer(web.Handler(s, web.Options{LiveInterval: 100 * time.Millisecond}))
	// After the browser ends (cleanups run last first): the page holds
	// its event stream open until then.
	t.Cleanup(srv.Close)
	bctx, ev := browser(t)
	do(t, bctx, "thread page", chromedp.Navigate(srv.URL+"/thread?t=live"), chromedp.WaitVisible("#history"))
	if sum := run(t, bctx, "summary", chromedp.Text("p.summary")); !strings.Contains(sum, "3 checkpoints") {
		t.Fatalf("summary at load: %q", sum)
	}
	for i := 3; i < 6; i++ {
		save(i)
	}
	rows := 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if rows = run(t, bctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("#history tr.cp").length`)); rows == 6 {
			break
		}
	}
	if rows != 6 {
		t.Fatalf("the live page shows %d rows, want 6", rows)
	}
	if sum := run(t, bctx, "summary", chromedp.Text("p.summary")); !strings.Contains(sum, "6 checkpoints") {
		t.Errorf("the live page shows 6 rows under the summary %q", sum)
	}
	ev.check(t)
}
