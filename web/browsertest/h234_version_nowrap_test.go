package browsertest

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Save versions a channel by the checkpoint's ULID (26 characters). Beside
// a long value, the checkpoint page's version column shrank to a few
// characters and broke each ULID over four lines ("01M98278" over
// "R4H3P1ZJ" ...), in every row. A version is an id, read whole: one up
// to 64 bytes (a ULID, LangGraph's 32 digits and a fraction) stays on one
// line; the value's cell wraps instead.
func TestH234CheckpointPageKeepsAVersionOnOneLine(t *testing.T) {
	ctx := context.Background()
	s := openNoSync(t, "long.db")
	id, err := s.Save(ctx, "t", map[string]any{"long": strings.Repeat("W", 3000), "small": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, s)
	bctx, ev := browser(t)
	do(t, bctx, "checkpoint page", chromedp.Navigate(srv.URL+"/checkpoint?t=t&id="+id), chromedp.WaitVisible("table.state"))
	checkOneLine(t, bctx, "the version", "table.state tbody tr", "tr.cells[1]", 2)
	checkFitsWindow(t, bctx, "checkpoint page")
	ev.check(t)
}
