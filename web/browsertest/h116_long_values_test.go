package browsertest

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// A thread whose last node is a long word (a generated name, a hash) made
// the threads page as wide as that word: the "last node" cell never
// wrapped, so the whole page, header included, scrolled sideways and the
// thread ids were squeezed into a column a few characters wide. Thread ids
// may be 1,024 bytes, and metadata is the app's.
func TestThreadsPageFitsTheWindowWithLongValues(t *testing.T) {
	srv := longRowsServer(t, "L")
	bctx, ev := browser(t)
	do(t, bctx, "threads page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#threads"))
	checkFitsWindow(t, bctx, "threads page")
	ev.check(t)
}
