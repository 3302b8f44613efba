package browsertest

import (
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

// The checkpoint page of `ckpt demo`'s step 7 showed its pending write's
// task as "respond" over "er" and its channel as "message" over "s": the
// cells may break anywhere (so a long name cannot widen the table past
// the window), and the long value beside them took the width. A short
// name (16 bytes at most: a task, a channel, a metadata key) is shown on
// one line, as the thread page shows short metadata.
func TestCheckpointPageShowsShortNamesWhole(t *testing.T) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "demo.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	answer := strings.Repeat("Both keep everything in one file and survive a crash. ", 4)
	id, err := s.Save(ctx, "demo", map[string]any{"messages": []any{answer}, "review": "approve", "revisions": 1},
		ckpt.Metadata{"node": "critic", "route": "responder", "reason": "the critic approved the draft"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(ctx, ckpt.Config{ThreadID: "demo", CheckpointID: id},
		[]ckpt.Write{{Channel: "messages", Value: map[string]any{"role": "assistant", "content": answer}}}, "responder", "responder"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler(s, web.Options{}))
	t.Cleanup(srv.Close)
	bctx, ev := browser(t)
	do(t, bctx, "checkpoint page", chromedp.Navigate(srv.URL+"/checkpoint?t=demo&id="+url.QueryEscape(id)), chromedp.WaitVisible("table.writes"))
	// A cell's text on more than one line has more than one client rect.
	wrapped := run(t, bctx, "wrapped cells", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("table.list td"))
		.filter(td => td.children.length == 0 && td.textContent.trim().length > 0 && td.textContent.trim().length <= 16)
		.filter(td => { const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length > 1; })
		.map(td => td.textContent.trim())`))
	if len(wrapped) > 0 {
		t.Errorf("short names shown on more than one line in a window of 1,360 px: %q", wrapped)
	}
	ev.check(t)
}
