package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// browser starts headless Chromium for one test, or skips the test when
// there is none (fails instead under CKPT_REQUIRE_BROWSER=1, as in CI).
func browser(t *testing.T) (context.Context, *events) {
	t.Helper()
	exe := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			exe = p
			break
		}
	}
	if exe == "" {
		if os.Getenv("CKPT_REQUIRE_BROWSER") == "1" {
			t.Fatal("no Chromium found and CKPT_REQUIRE_BROWSER=1 (apt-get install chromium)")
		}
		t.Skip("no Chromium (apt-get install chromium); set CKPT_REQUIRE_BROWSER=1 to fail instead")
	}
	// The timeout only detects a hung browser; nothing here measures time.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox,
		chromedp.WindowSize(1360, 900), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	ev := &events{}
	if err := chromedp.Listen(bctx, ev.record(bctx)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(bctx, log.Enable, struct{}{}); err != nil {
		t.Fatal(err)
	}
	return bctx, ev
}

// events collects what must not happen on a page: dialogs (a payload's
// alert), uncaught exceptions (app.js broken) and console errors (a
// resource the Content-Security-Policy refused).
type events struct {
	mu       sync.Mutex
	dialogs  []string
	problems []string
}

func (e *events) record(ctx context.Context) func(any) {
	return func(v any) {
		e.mu.Lock()
		defer e.mu.Unlock()
		switch ev := v.(type) {
		case *page.EventJavascriptDialogOpening:
			e.dialogs = append(e.dialogs, ev.Message)
			// A dialog blocks the page; close it from another goroutine.
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		case *runtime.EventExceptionThrown:
			e.problems = append(e.problems, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				e.problems = append(e.problems, "console: "+ev.Entry.Text)
			}
		}
	}
}

func (e *events) check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, d := range e.dialogs {
		t.Errorf("a dialog opened: %q", d)
	}
	for _, p := range e.problems {
		t.Errorf("the page reported %s", p)
	}
}

func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func TestBrowseThreadCheckpointAndDiff(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(web.Handler(f.store, web.Options{}))
	defer srv.Close()
	ctx, ev := browser(t)

	do(t, ctx, "threads page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#threads"))
	threads := run(t, ctx, "threads text", chromedp.Text("#threads"))
	for _, want := range []string{"demo", "(root), research:1", "lookup"} {
		if !strings.Contains(threads, want) {
			t.Errorf("threads page: no %q in\n%s", want, threads)
		}
	}

	do(t, ctx, "click the demo thread", chromedp.Click(`#threads a[href="/thread?t=demo"]`), chromedp.WaitVisible("#history"))
	rows := run(t, ctx, "history rows", chromedp.Evaluate[int](`document.querySelectorAll("#history tr.cp").length`))
	if want := len(f.ids) + 1 + 2; rows != want {
		t.Errorf("thread page: %d rows, want %d", rows, want)
	}
	hist := run(t, ctx, "history text", chromedp.Text("#history"))
	for _, want := range []string{"responder", "__end__", "human", "edited the plan", "research:1", "run-660b42"} {
		if !strings.Contains(hist, want) {
			t.Errorf("thread page: no %q in the history", want)
		}
	}
	// The fork draws a second column: some dot is not in the first one.
	cols := run(t, ctx, "graph columns", chromedp.Evaluate[int](
		`new Set([...document.querySelectorAll("#history circle")].map(c => c.getAttribute("cx"))).size`))
	if cols < 3 { // main line, fork branch, subgraph lane
		t.Errorf("the history graph has %d columns, want the main line, the fork and the subgraph lane", cols)
	}
	shot := run(t, ctx, "screenshot", chromedp.FullScreenshot(100))
	if os.Getenv("CKPT_UPDATE_SCREENSHOT") == "1" {
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "thread-page.png"), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Into the research step's checkpoint (step 3): two findings appended.
	do(t, ctx, "click a checkpoint", chromedp.Click(`#history a[href="/checkpoint?id=`+f.ids[2]+`&t=demo"]`), chromedp.WaitVisible("table.state"))
	state := run(t, ctx, "state text", chromedp.Text("table.state"))
	for _, want := range []string{"findings", "+2 appended", "one file, one writer process"} {
		if !strings.Contains(state, want) {
			t.Errorf("checkpoint page: no %q in the state\n%s", want, state)
		}
	}
	newItems := run(t, ctx, "appended items", chromedp.Evaluate[int](`document.querySelectorAll("table.state .new").length`))
	if newItems < 2 {
		t.Errorf("%d items marked as appended, want the 2 findings", newItems)
	}
	// The JSON tree folds: closing the findings list hides its items.
	visible := run(t, ctx, "fold", chromedp.Evaluate[bool](`(() => {
		const d = [...document.querySelectorAll("table.state tr")].find(r => r.textContent.includes("findings")).querySelector("details");
		d.open = false;
		return d.querySelector(".ji").checkVisibility();
	})()`))
	if visible {
		t.Error("a folded list still shows its items")
	}

	// Its parent (step 2) holds the parallel tasks' pending writes.
	do(t, ctx, "click the parent", chromedp.Click("#parent"), chromedp.WaitVisible("table.writes"))
	writes := run(t, ctx, "writes text", chromedp.Text("table.writes"))
	for _, want := range []string{"research:bbolt", "research:SQLite", "~research:bbolt"} {
		if !strings.Contains(writes, want) {
			t.Errorf("parent's pending writes: no %q in\n%s", want, writes)
		}
	}

	// And the diff from step 2 to step 3, from the checkpoint page.
	do(t, ctx, "back to step 3", chromedp.Navigate(srv.URL+"/checkpoint?t=demo&id="+f.ids[2]), chromedp.WaitVisible("#diffparent"))
	do(t, ctx, "click diff with parent", chromedp.Click("#diffparent"), chromedp.WaitVisible("#diff-channels"))
	diff := run(t, ctx, "diff text", chromedp.Text("#diff-channels"))
	if !strings.Contains(diff, "findings: 2 items appended") || !strings.Contains(diff, "unchanged: messages, plan, question") {
		t.Errorf("diff page:\n%s", diff)
	}
	colour := run(t, ctx, "diff colour", chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#diff-channels .add")).color`))
	if colour == "" || colour == getTextColour(t, ctx) {
		t.Errorf("added lines are not coloured (%q)", colour)
	}

	// A diff of two rows ticked on the thread page. A third tick replaces
	// the oldest, and the button waits for two.
	tick := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(`#history input[name="pick"][value="` + id + `"]`)
	}
	disabled := func() bool {
		return run(t, ctx, "diff button", chromedp.Evaluate[bool](`document.getElementById("diff-picked").disabled`))
	}
	do(t, ctx, "thread page again", chromedp.Navigate(srv.URL+"/thread?t=demo"), chromedp.WaitVisible("#history"))
	if !disabled() {
		t.Error("the diff button is enabled with no row ticked")
	}
	do(t, ctx, "tick three rows", tick(f.ids[0]), tick(f.ids[3]))
	if disabled() {
		t.Error("the diff button is disabled with two rows ticked")
	}
	do(t, ctx, "tick a third row", tick(f.ids[1]))
	if n := run(t, ctx, "ticked", chromedp.Evaluate[int](`document.querySelectorAll('#history input[name="pick"]:checked').length`)); n != 2 {
		t.Errorf("%d rows ticked after a third tick, want 2", n)
	}
	do(t, ctx, "diff the ticked rows", chromedp.Click("#diff-picked"), chromedp.WaitVisible("#diff-channels"))
	loc := run(t, ctx, "diff location", chromedp.Location())
	if !strings.Contains(loc, "a="+f.ids[1]) || !strings.Contains(loc, "b="+f.ids[3]) {
		t.Errorf("the ticked rows %s and %s opened %s", f.ids[1], f.ids[3], loc)
	}

	do(t, ctx, "stats page", chromedp.Navigate(srv.URL+"/stats"), chromedp.WaitVisible("svg.chart rect"))
	ev.check(t)
}

func getTextColour(t *testing.T, ctx context.Context) string {
	return run(t, ctx, "body colour", chromedp.Evaluate[string](`getComputedStyle(document.body).color`))
}

func TestHostileIDsAndValuesRenderAsText(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(web.Handler(f.store, web.Options{AllowWrites: true}))
	defer srv.Close()
	ctx, ev := browser(t)
	notRun := func(where string) {
		t.Helper()
		pwned := run(t, ctx, "window.pwned", chromedp.Evaluate[bool](`typeof window.pwned !== "undefined"`))
		if pwned {
			t.Errorf("%s: a payload ran (window.pwned is set)", where)
		}
		imgs := run(t, ctx, "img count", chromedp.Evaluate[int](`document.querySelectorAll("img").length`))
		if imgs != 0 {
			t.Errorf("%s: %d <img> elements from the data", where, imgs)
		}
	}
	do(t, ctx, "threads page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible("#threads"))
	notRun("threads page")
	link := `#threads a.tid:not([href="/thread?t=demo"])`
	if got := run(t, ctx, "hostile id text", chromedp.Text(link)); got != hostileThread {
		t.Errorf("the hostile thread id shows as %q, want its text %q", got, hostileThread)
	}
	do(t, ctx, "click the hostile thread", chromedp.Click(link), chromedp.WaitVisible("#history"))
	notRun("thread page")
	if got := run(t, ctx, "title", chromedp.Text("h1 .tid")); got != hostileThread {
		t.Errorf("thread page title shows %q", got)
	}
	do(t, ctx, "click its checkpoint", chromedp.Click(`#history tr.cp a`), chromedp.WaitVisible("table.state"))
	notRun("checkpoint page (with the fork form)")
	state := run(t, ctx, "state", chromedp.Text("table.state"))
	meta := run(t, ctx, "metadata", chromedp.Text("table.meta"))
	for what, text := range map[string]string{"state": state, "metadata": meta} {
		if !strings.Contains(text, `<img src=x onerror=`) || !strings.Contains(text, `<script>window.pwned=4;alert(4)</script>`) {
			t.Errorf("%s does not show the hostile value as text:\n%s", what, text)
		}
	}
	textarea := run(t, ctx, "fork form", chromedp.Evaluate[string](`document.querySelector("textarea[name=state]").value`))
	if !strings.Contains(textarea, `<script>window.pwned=4`) {
		t.Errorf("the fork form's state lost the value: %q", textarea)
	}
	do(t, ctx, "diff of the hostile thread", chromedp.Navigate(srv.URL+"/diff?t="+urlEscape(hostileThread)+"&a="+f.hostile+"&b="+f.hostile), chromedp.WaitVisible("#diff-channels"))
	notRun("diff page")
	ev.check(t)
	// Last, as the browser logs the 404 of the page itself as an error.
	do(t, ctx, "error page with the payload", chromedp.Navigate(srv.URL+"/thread?t="+urlEscape(hostileValue)), chromedp.WaitVisible("p.error"))
	notRun("error page")
	if got := run(t, ctx, "error text", chromedp.Text("p.error")); !strings.Contains(got, "<script>window.pwned=4;alert(4)</script>") {
		t.Errorf("the error page does not show the thread id as text: %q", got)
	}
}

func TestLargeValueLoadsInPlaceAndNewCheckpointsAppear(t *testing.T) {
	f := newFixture(t)
	h := web.Handler(f.store, web.Options{InlineLimit: 100, LiveInterval: 100 * time.Millisecond})
	// New checkpoints must come through the event stream: the poll
	// endpoint, the fallback for browsers without EventSource, is gone.
	var streams atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/head":
			http.Error(w, "no polling in this test", http.StatusGone)
			return
		case "/events":
			streams.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx, ev := browser(t)
	msgLink := `a.load[href*="ch=messages"]`
	do(t, ctx, "last checkpoint", chromedp.Navigate(srv.URL+"/checkpoint?t=demo&id="+f.ids[len(f.ids)-1]), chromedp.WaitVisible(msgLink))
	do(t, ctx, "load the large value", chromedp.Click(msgLink), chromedp.WaitNotPresent(msgLink))
	if loc := run(t, ctx, "location", chromedp.Location()); strings.Contains(loc, "/value") {
		t.Error("the large value opened a page instead of loading in place")
	}
	if txt := run(t, ctx, "state", chromedp.Text("table.state")); !strings.Contains(txt, "bbolt suits an embedded Go key-value store") {
		t.Errorf("loaded value not shown:\n%s", txt)
	}

	do(t, ctx, "thread page", chromedp.Navigate(srv.URL+"/thread?t=demo"), chromedp.WaitVisible("#history"))
	id, err := f.store.Save(context.Background(), "demo", map[string]any{"messages": []string{"a new turn"}},
		ckpt.Metadata{"node": "live-node", "step": 9})
	if err != nil {
		t.Fatal(err)
	}
	// The event stream names it; the new row must appear without a reload.
	// The wait ends at the browser's timeout if it never does.
	do(t, ctx, "the new checkpoint appears", chromedp.WaitVisible(`#history a[title="`+id+`"]`))
	if streams.Load() == 0 {
		t.Error("the thread page never opened the event stream")
	}
	ev.check(t)
	// Leaving the page ends its stream; otherwise srv.Close would wait for
	// it until the browser's context ends.
	do(t, ctx, "leave the page", chromedp.Navigate("about:blank"))
}

func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", "&", "%26", "#", "%23", "+", "%2B", " ", "%20", "\"", "%22", "<", "%3C", ">", "%3E", "=", "%3D", ";", "%3B")
	return r.Replace(s)
}

func TestForkFromACheckpointWithEditedState(t *testing.T) {
	f := newFixture(t)
	srv := httptest.NewServer(web.Handler(f.store, web.Options{AllowWrites: true}))
	defer srv.Close()
	ctx, ev := browser(t)
	do(t, ctx, "checkpoint page", chromedp.Navigate(srv.URL+"/checkpoint?t=demo&id="+f.ids[1]), chromedp.WaitVisible("textarea[name=state]"))
	// Edit the plan in the JSON and submit the form (it carries the token).
	run(t, ctx, "edit the state", chromedp.Evaluate[bool](`(() => {
		const ta = document.querySelector("textarea[name=state]");
		const st = JSON.parse(ta.value);
		st.plan = "look up bbolt only, then answer";
		ta.value = JSON.stringify(st);
		document.body.dataset.old = "1"; // gone once the next page loads
		return true;
	})()`))
	do(t, ctx, "fork", chromedp.Click(`form[action="/fork"] button`), chromedp.WaitVisible("body:not([data-old]) h1"))
	if loc := run(t, ctx, "location", chromedp.Location()); !strings.Contains(loc, "/checkpoint?") {
		t.Fatalf("the fork answered %s: %s", loc, run(t, ctx, "page", chromedp.Text("main")))
	}
	parent := run(t, ctx, "parent", chromedp.Text("#parent"))
	if parent != f.ids[1] {
		t.Fatalf("the fork's parent is %q, want %s", parent, f.ids[1])
	}
	if txt := run(t, ctx, "state", chromedp.Text("table.state")); !strings.Contains(txt, "look up bbolt only, then answer") {
		t.Errorf("the fork does not hold the edited plan:\n%s", txt)
	}
	if meta := run(t, ctx, "metadata", chromedp.Text("table.meta")); !strings.Contains(meta, f.ids[1]) || !strings.Contains(meta, `"fork"`) {
		t.Errorf("the fork's metadata does not say where it came from:\n%s", meta)
	}
	ev.check(t)
}
