package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// Beside a long thread id and a long last node, the threads page broke
// the "last checkpoint" time over two lines ("2026-12-07" over
// "10:54:02.469 UTC") in every row, the long one's and the short ones'
// alike. A time is read whole: it stays on one line, and the long
// cells wrap instead.
func TestH234ThreadsPageKeepsATimeOnOneLine(t *testing.T) {
	srv := longRowsServer(t, "x")
	bctx, ev := browser(t)
	do(t, bctx, "threads page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#threads"))
	checkOneLine(t, bctx, "the last checkpoint's time", "#threads tbody tr", "tr.cells[tr.cells.length - 1]", 2)
	checkFitsWindow(t, bctx, "threads page")
	ev.check(t)
}
