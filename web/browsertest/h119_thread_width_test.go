package browsertest

import (
	"context"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// The thread page of `ckpt demo`'s thread was 1,587 px wide in a window
// of 1,360: its history cells (a reason of 80 characters, the changed
// channels) never wrapped nor shortened, so the page scrolled sideways.
// The metadata here are the demo's own (cmd/ckpt/demograph.go).
func TestThreadPageFitsTheWindowWithTheDemosMetadata(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "demo.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	srv := httptest.NewServer(web.Handler(s, web.Options{}))
	// Closed after the browser (cleanups run last first): the live page
	// holds its events stream open until then.
	t.Cleanup(srv.Close)
	bctx, ev := browser(t)
	do(t, bctx, "thread page", chromedp.Navigate(srv.URL+"/thread?t="+url.QueryEscape("demo")), chromedp.WaitVisible("#history"))
	w := run(t, bctx, "page width", chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	cw := run(t, bctx, "window width", chromedp.Evaluate[int](`document.documentElement.clientWidth`))
	if w > cw {
		t.Errorf("the thread page is %d px wide in a window of %d px: it scrolls sideways", w, cw)
	}
	ev.check(t)
}
