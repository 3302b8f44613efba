package browsertest

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
)

// The thread page of `ckpt demo`'s thread was 1,587 px wide in a window
// of 1,360: its history cells (a reason of 80 characters, the changed
// channels) never wrapped nor shortened, so the page scrolled sideways.
// The metadata here are the demo's own (cmd/ckpt/demograph.go).
func TestThreadPageFitsTheWindowWithTheDemosMetadata(t *testing.T) {
	srv := demoThreadServer(t)
	bctx, ev := browser(t)
	do(t, bctx, "thread page", chromedp.Navigate(srv.URL+"/thread?t="+url.QueryEscape("demo")), chromedp.WaitVisible("#history"))
	checkFitsWindow(t, bctx, "thread page")
	ev.check(t)
}

// The same page showed every run_id as "run-…": the cell wrapped after
// the hyphen, to narrow the table, and showed its first line only, so the
// two runs of the demo (the one killed and the one that resumed: what the
// demo is about) looked the same. A short value (a run id, a node, a
// route, a step) is shown whole; the long ones (a reason) are shortened.
func TestThreadPageShowsShortMetadataWhole(t *testing.T) {
	srv := demoThreadServer(t)
	bctx, ev := browser(t)
	do(t, bctx, "thread page", chromedp.Navigate(srv.URL+"/thread?t="+url.QueryEscape("demo")), chromedp.WaitVisible("#history"))
	cut := run(t, bctx, "cut cells", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("#history td.m > .clip"))
		.filter(e => e.textContent.length <= 16 && e.scrollHeight > e.clientHeight + 1)
		.map(e => e.textContent)`))
	if len(cut) > 0 {
		t.Errorf("short metadata shown cut in a window of 1,360 px: %q", cut)
	}
	ev.check(t)
}

// demoThreadServer serves a store holding the thread "demo" with the
// metadata of `ckpt demo`'s thread.
func demoThreadServer(t *testing.T) *httptest.Server {
	ctx := context.Background()
	s := openNoSync(t, "demo.db")
	steps := []struct{ node, route, reason string }{
		{"__input__", "planner", "new question from the user"},
		{"planner", "research", "the question compares two stores: look both up at once"},
		{"research", "writer", "both look-ups finished"},
		{"writer", "critic", "draft ready for review"},
		{"critic", "writer", "the critic asked for a revision: say what survives a crash, and recommend one"},
		{"writer", "critic", "draft ready for review"},
		{"critic", "responder", "the critic approved the draft"},
		{"responder", "__end__", "answer sent to the user"},
	}
	state := map[string]any{}
	for i, st := range steps {
		// Each step changes a few channels, as the demo's do.
		state["messages"], state["question"], state["findings"] = i, i, i
		state["draft"], state["revisions"], state["review"], state["plan"] = i, i, i, i
		meta := ckpt.Metadata{"step": i + 1, "source": "loop", "node": st.node, "route": st.route,
			"reason": st.reason, "run_id": "run-db8a45"}
		if _, err := s.Save(ctx, "demo", state, meta); err != nil {
			t.Fatal(err)
		}
	}
	// Closed after the browser: the live page holds its events stream
	// open until then.
	return serve(t, s)
}
