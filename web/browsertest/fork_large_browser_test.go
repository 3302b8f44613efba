package browsertest

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestForkOfALargeStateInTheBrowser: a checkpoint with a 3 MB channel is
// forked by editing a small channel in the form and clicking fork; the
// big channel, kept by its ticked box, reads back byte for byte.
func TestForkOfALargeStateInTheBrowser(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "big.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	id, err := s.Save(ctx, "big", map[string]any{"doc": strings.Repeat("x", 3<<20), "plan": "before"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler(s, web.Options{AllowWrites: true}))
	defer srv.Close()
	bctx, ev := browser(t)
	do(t, bctx, "checkpoint page", chromedp.Navigate(srv.URL+"/checkpoint?t=big&id="+id), chromedp.WaitVisible("textarea[name=state]"))
	edited := run(t, bctx, "edit the plan", chromedp.Evaluate[bool](`(() => {
		const ta = document.querySelector("textarea[name=state]");
		const st = JSON.parse(ta.value);
		if ("doc" in st) return false;
		st.plan = "after";
		ta.value = JSON.stringify(st);
		document.body.dataset.old = "1";
		return true;
	})()`))
	if !edited {
		t.Fatal("the 3 MB channel is in the fork form's text box")
	}
	do(t, bctx, "fork", chromedp.Click(`form[action="/fork"] button`), chromedp.WaitVisible("body:not([data-old]) h1"))
	loc := run(t, bctx, "location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil || !strings.Contains(loc, "/checkpoint?") {
		t.Fatalf("the fork answered %s: %s", loc, run(t, bctx, "page", chromedp.Text("main")))
	}
	parent, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "big", CheckpointID: id})
	if err != nil {
		t.Fatal(err)
	}
	child, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "big", CheckpointID: u.Query().Get("id")})
	if err != nil {
		t.Fatal(err)
	}
	var plan string
	if err := child.Decode("plan", &plan); err != nil || plan != "after" {
		t.Errorf("the fork's plan: %q %v, want \"after\"", plan, err)
	}
	praw, _ := parent.Checkpoint.ChannelValues["doc"].(ckpt.Raw)
	craw, _ := child.Checkpoint.ChannelValues["doc"].(ckpt.Raw)
	if !bytes.Equal(praw, craw) || parent.Checkpoint.ChannelVersions["doc"] != child.Checkpoint.ChannelVersions["doc"] {
		t.Errorf("the kept 3 MB channel changed: %d -> %d bytes, version %q -> %q", len(praw), len(craw),
			parent.Checkpoint.ChannelVersions["doc"], child.Checkpoint.ChannelVersions["doc"])
	}
	ev.check(t)
}

// TestReadOnlyStoreShowsNoWriteForms: with write actions on over a store
// opened read-only, the checkpoint page shows the note, not the fork form.
func TestReadOnlyStoreShowsNoWriteForms(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro.db")
	s, err := ckpt.Open(path, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Save(ctx, "t", map[string]any{"plan": "p"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	srv := httptest.NewServer(web.Handler(ro, web.Options{AllowWrites: true}))
	defer srv.Close()
	bctx, ev := browser(t)
	do(t, bctx, "checkpoint page", chromedp.Navigate(srv.URL+"/checkpoint?t=t&id="+id), chromedp.WaitVisible("#readonly-note"))
	if n := run(t, bctx, "forms", chromedp.Evaluate[int](`document.querySelectorAll("form[method=post]").length`)); n != 0 {
		t.Errorf("%d write forms on a read-only store's checkpoint page", n)
	}
	do(t, bctx, "thread page", chromedp.Navigate(srv.URL+"/thread?t=t"), chromedp.WaitVisible("#readonly-note"))
	if n := run(t, bctx, "forms", chromedp.Evaluate[int](`document.querySelectorAll("form[method=post]").length`)); n != 0 {
		t.Errorf("%d write forms on a read-only store's thread page", n)
	}
	ev.check(t)
	// The thread page holds an event stream; leaving it lets srv.Close end.
	do(t, bctx, "leave the page", chromedp.Navigate("about:blank"))
}
