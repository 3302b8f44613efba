package browsertest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// liveThread opens the live first page (two rows a page) of a thread of
// n checkpoints in a browser whose local time zone is not UTC, and
// returns the browser and a function that saves one more checkpoint and
// waits for the page to show it (its newest row).
func liveThread(t *testing.T, n int) (context.Context, *events, []string, func() string) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "live.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var ids []string
	save := func() string {
		id, err := s.Save(ctx, "live", map[string]any{"i": len(ids)}, ckpt.Metadata{"step": len(ids)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		return id
	}
	for range n {
		save()
	}
	srv := httptest.NewServer(web.Handler(s, web.Options{LiveInterval: 100 * time.Millisecond}))
	t.Cleanup(srv.Close) // after the browser: the page holds its event stream open
	bctx, ev := browser(t)
	if _, err := chromedp.Call(bctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/Los_Angeles"}); err != nil {
		t.Fatal(err)
	}
	do(t, bctx, "thread page", chromedp.Navigate(srv.URL+"/thread?t=live&limit=2"), chromedp.WaitVisible("#history"))
	more := func() string {
		id := save()
		sel := fmt.Sprintf(`#history a[title=%q]`, id)
		do(t, bctx, "the new row", chromedp.WaitVisible(sel))
		return id
	}
	return bctx, ev, ids, more
}

// The live page said "live · updated 9:07:44 AM": the browser's local
// time on a 12-hour clock, where every other time the pages show is UTC
// (2026-12-05 09:07:44.123 UTC).
func TestLivePageSaysWhenItWasUpdatedInUTC(t *testing.T) {
	bctx, ev, _, more := liveThread(t, 2)
	more()
	text := run(t, bctx, "live note", chromedp.Text("#live"))
	if !regexp.MustCompile(`updated \d\d:\d\d:\d\d UTC$`).MatchString(text) {
		t.Errorf("the live page says %q, want its update time as hh:mm:ss UTC", text)
	}
	utc := time.Now().UTC()
	if h := utc.Format("15:"); !strings.Contains(text, " "+h) && !strings.Contains(text, " "+utc.Add(-time.Minute).Format("15:")) {
		t.Errorf("the live page says %q, the hour in UTC is %s", text, h)
	}
	ev.check(t)
}

// Two rows ticked on the live page, then new checkpoints pushed them off
// its first page: the ticks were dropped (the diff button went grey and
// its note asked for two ticks again), though the person ticked them.
func TestLivePageKeepsTicksOfRowsThatScrolledOff(t *testing.T) {
	bctx, ev, ids, more := liveThread(t, 2)
	a, b := ids[0], ids[1]
	for _, id := range []string{a, b} {
		do(t, bctx, "tick "+id, chromedp.Click(fmt.Sprintf(`#pick input[value=%q]`, id)))
	}
	more()
	more()
	if n := run(t, bctx, "ticked rows shown", chromedp.Evaluate[int](`document.querySelectorAll('#history input[name="pick"]:checked').length`)); n != 0 {
		t.Fatalf("%d ticked rows still on the page: the test needs them scrolled off", n)
	}
	if dis := run(t, bctx, "diff button", chromedp.Evaluate[bool](`document.getElementById("diff-picked").disabled`)); dis {
		t.Fatalf("after the ticked rows left the page the diff button is disabled (note: %q)",
			run(t, bctx, "note", chromedp.Text("#pick-note")))
	}
	do(t, bctx, "diff the two ticked", chromedp.Click("#diff-picked"), chromedp.WaitVisible("#diff-channels"))
	loc := run(t, bctx, "diff address", chromedp.Evaluate[string](`window.location.href`))
	if !strings.Contains(loc, a) || !strings.Contains(loc, b) {
		t.Errorf("the diff of the two ticked is %s, want %s and %s", loc, a, b)
	}
	ev.check(t)
}
