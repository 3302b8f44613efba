package web_test

import (
	"bufio"
	"context"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

const (
	hostileThread = `<script>window.pwned=1</script>"><img src=x onerror=window.pwned=2>`
	hostileValue  = `"><img src=x onerror=window.pwned=3><script>window.pwned=4</script>`
)

// fixture is a store with a demo-like thread (a list channel that grows,
// pending writes of two parallel tasks, a fork and a subgraph namespace)
// and a thread whose id and values are hostile markup.
type fixture struct {
	store *ckpt.Store
	ids   []string // the "demo" thread's root checkpoints, oldest first
	fork  string   // a checkpoint forked from ids[1]
	sub   []string // the checkpoints of namespace "research:1"
	lone  string   // the only checkpoint of the hostile thread
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "web.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := &fixture{store: s}
	msgs := []any{map[string]any{"role": "user", "content": "Compare bbolt and SQLite"}}
	nodes := []string{"__input__", "planner", "research", "writer", "responder"}
	for i, node := range nodes {
		if i > 0 {
			msgs = append(msgs, map[string]any{"role": "assistant", "content": "step " + node})
		}
		state := map[string]any{"messages": msgs, "question": "Compare bbolt and SQLite", "turn": i + 1}
		meta := ckpt.Metadata{"step": i + 1, "node": node, "source": "loop", "route": "next", "reason": "because", "run_id": "run-1"}
		id, err := s.Save(ctx, "demo", state, meta)
		if err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, id)
	}
	cfg := ckpt.Config{ThreadID: "demo", CheckpointID: f.ids[2]}
	for _, task := range []string{"research:bbolt", "research:sqlite"} {
		if err := s.PutWrites(ctx, cfg, []ckpt.Write{{Channel: "findings", Value: map[string]any{"source": task}}}, task, "~"+task); err != nil {
			t.Fatal(err)
		}
	}
	// A fork: a second child of ids[1].
	parent, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "demo", CheckpointID: f.ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	cp := parent.Checkpoint
	cp.ID, cp.TS = "", parent.Checkpoint.TS
	cp.ChannelVersions = map[string]string{"messages": cp.ChannelVersions["messages"], "question": cp.ChannelVersions["question"], "turn": "fork-1"}
	cp.ChannelValues = map[string]any{"turn": 99}
	out, err := s.Put(ctx, parent.Config, ckpt.Checkpoint{V: 1, ChannelValues: cp.ChannelValues, ChannelVersions: cp.ChannelVersions},
		ckpt.Metadata{"step": 2, "node": "human", "source": "update"}, map[string]string{"turn": "fork-1"})
	if err != nil {
		t.Fatal(err)
	}
	f.fork = out.CheckpointID
	// A subgraph namespace.
	prev := ""
	for i := range 3 {
		out, err := s.Put(ctx, ckpt.Config{ThreadID: "demo", CheckpointNS: "research:1", CheckpointID: prev},
			ckpt.Checkpoint{V: 1, ChannelValues: map[string]any{"n": i}, ChannelVersions: map[string]string{"n": string(rune('1' + i))}},
			ckpt.Metadata{"step": i, "node": "sub", "source": "loop"}, map[string]string{"n": string(rune('1' + i))})
		if err != nil {
			t.Fatal(err)
		}
		prev = out.CheckpointID
		f.sub = append(f.sub, prev)
	}
	if f.lone, err = s.Save(ctx, hostileThread, map[string]any{hostileValue: hostileValue, "list": []any{hostileValue}},
		ckpt.Metadata{"node": hostileValue, hostileValue: 1}); err != nil {
		t.Fatal(err)
	}
	return f
}

type client struct {
	t   testing.TB
	srv *httptest.Server
}

func newClient(t testing.TB, h http.Handler) *client {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &client{t: t, srv: srv}
}

func (c *client) do(req *http.Request) (int, string, http.Header) {
	c.t.Helper()
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.srv.URL+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	code, body, _ := c.do(req)
	return code, body
}

func (c *client) post(path string, form url.Values, hdr map[string]string) (int, string, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest("POST", c.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(req)
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

func TestPagesShowTheStore(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	cases := []struct {
		name, path string
		want       []string
	}{
		{"threads", "/", []string{`href="/thread?t=demo"`, "<td>sub</td>", "research:1"}},
		{"threads by prefix", "/?q=de", []string{`href="/thread?t=demo"`}},
		{"thread", "/thread" + q("t", "demo"), []string{f.ids[4] + "<", f.fork + "<", f.sub[0] + "<", "<svg", "research:1", "responder", "run-1"}},
		{"thread filtered", "/thread" + q("t", "demo", "filter", "node=writer"), []string{f.ids[3] + "<"}},
		{"thread one namespace", "/thread" + q("t", "demo", "ns", "research:1"), []string{f.sub[2] + "<"}},
		{"checkpoint", "/checkpoint" + q("t", "demo", "id", f.ids[2]), []string{"research:bbolt", "research:sqlite", f.ids[1], "+1 appended", "diff with parent"}},
		// Ids saved in one millisecond differ only at the end: a prefix is
		// tried where it names one checkpoint.
		{"checkpoint by prefix", "/checkpoint" + q("t", hostileThread, "id", strings.ToLower(f.lone[:12])), []string{f.lone}},
		{"value", "/value" + q("t", "demo", "id", f.ids[4], "ch", "messages"), []string{"step responder"}},
		{"diff", "/diff" + q("t", "demo", "a", f.ids[1], "b", f.ids[2]), []string{"1 item appended", "step research", `class="add`}},
		{"stats", "/stats", []string{"<svg", "threads/*/bl", "saved: unchanged channels", "As of ", "<th>holds</th>", "list items stored as append-deltas"}},
		{"static js", "/static/app.js", []string{"DOMContentLoaded"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := c.get(tc.path)
			if code != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", tc.path, code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: no %q in the page", tc.path, w)
				}
			}
		})
	}
	// A filter leaves out what does not match.
	if _, body := c.get("/thread" + q("t", "demo", "filter", "node=writer")); strings.Contains(body, f.ids[4]+"<") {
		t.Error("filter node=writer still shows the responder checkpoint")
	}
}

func TestBadRequestsGetTheirStatus(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	unknownID := "01JZZZZZZZZZZZZZZZZZZZZZZZ"
	cases := []struct {
		name, path string
		want       int
	}{
		{"unknown thread", "/thread" + q("t", "nope"), 404},
		{"no thread", "/thread", 400},
		{"thread id too long", "/thread" + q("t", strings.Repeat("x", 2000)), 400},
		{"bad filter", "/thread" + q("t", "demo", "filter", "node"), 400},
		{"bad filter key", "/thread" + q("t", "demo", "filter", "=x"), 400},
		{"bad limit", "/thread" + q("t", "demo", "limit", "0"), 400},
		{"limit not a number", "/thread" + q("t", "demo", "limit", "ten"), 400},
		{"bad before", "/thread" + q("t", "demo", "before", "not-an-id!"), 400},
		{"bad offset", "/" + q("offset", "-1"), 400},
		{"bad checkpoint id", "/checkpoint" + q("t", "demo", "id", "<x>"), 400},
		{"no checkpoint id", "/checkpoint" + q("t", "demo"), 400},
		{"unknown checkpoint", "/checkpoint" + q("t", "demo", "id", unknownID), 404},
		{"checkpoint of unknown thread", "/checkpoint" + q("t", "nope", "id", unknownID), 404},
		{"unknown channel", "/value" + q("t", "demo", "id", f.ids[0], "ch", "nope"), 404},
		{"diff bad id", "/diff" + q("t", "demo", "a", "??", "b", f.ids[0]), 400},
		{"diff unknown id", "/diff" + q("t", "demo", "a", unknownID, "b", f.ids[0]), 404},
		{"head unknown thread", "/head" + q("t", "nope"), 404},
		{"head bad filter", "/head" + q("t", "demo", "filter", "x"), 400},
		{"unknown page", "/nope", 404},
		{"unknown static file", "/static/nope.js", 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, body := c.get(tc.path)
			if code != tc.want {
				t.Fatalf("GET %s: %d, want %d\n%s", tc.path, code, tc.want, body)
			}
			if !strings.HasPrefix(tc.path, "/static/") && !strings.HasPrefix(tc.path, "/head") {
				if !strings.Contains(body, "<h1>") {
					t.Errorf("GET %s: %d without an error page", tc.path, code)
				}
			}
		})
	}
}

func TestEveryResponseCarriesTheSecurityHeaders(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	for _, path := range []string{"/", "/thread?t=nope", "/static/app.css"} {
		req, _ := http.NewRequest("GET", c.srv.URL+path, nil)
		_, _, h := c.do(req)
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
}

// Markup of the payloads could only appear as real tags if it were not
// escaped: the pages hold exactly one <script> (the layout's, with src)
// and no <img> at all.
func checkNoMarkup(t *testing.T, path, body string) {
	t.Helper()
	if n := strings.Count(strings.ToLower(body), "<script"); n != 1 {
		t.Errorf("GET %s: %d <script> tags, want only the layout's", path, n)
	}
	if strings.Contains(strings.ToLower(body), "<img") {
		t.Errorf("GET %s: an <img> tag from the data reached the page", path)
	}
}

func TestHostileDataIsEscaped(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{AllowWrites: true}))
	id := ""
	for tup, err := range f.store.List(context.Background(), ckpt.ListOptions{ThreadID: hostileThread}) {
		if err != nil {
			t.Fatal(err)
		}
		id = tup.Config.CheckpointID
	}
	for _, path := range []string{"/", "/thread" + q("t", hostileThread), "/checkpoint" + q("t", hostileThread, "id", id),
		"/value" + q("t", hostileThread, "id", id, "ch", hostileValue), "/diff" + q("t", hostileThread, "a", id, "b", id),
		"/thread" + q("t", hostileThread, "filter", "node="+hostileValue), "/nope" + q("x", hostileValue)} {
		code, body := c.get(path)
		if code != 200 && code != 404 {
			t.Fatalf("GET %s: %d\n%s", path, code, body)
		}
		checkNoMarkup(t, path, body)
		if code == 200 && !strings.Contains(body, "&lt;script&gt;window.pwned=") && !strings.Contains(body, "&lt;img src=x") {
			t.Errorf("GET %s: the hostile text is not shown escaped", path)
		}
	}
}

func TestHostHeaderIsCheckedOnLoopback(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{AllowedHosts: []string{"ckpt.internal"}}))
	for host, want := range map[string]int{
		"evil.example":            403,
		"evil.example:80":         403,
		"127.0.0.1.evil.example":  403,
		"localhost":               200,
		"localhost:8080":          200,
		"127.0.0.1:1234":          200,
		"[::1]:1234":              200,
		"ckpt.internal:9":         200,
		"localhost.evil.example.": 403,
	} {
		req, _ := http.NewRequest("GET", c.srv.URL+"/", nil)
		req.Host = host
		if code, body, _ := c.do(req); code != want {
			t.Errorf("Host %q: %d, want %d\n%s", host, code, want, body)
		}
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestWritesNeedTheSwitchAndTheToken(t *testing.T) {
	f := newFixture(t)
	off := newClient(t, web.Handler(f.store, web.Options{}))
	if code, _, _ := off.post("/delete", url.Values{"t": {"demo"}}, nil); code != 403 {
		t.Errorf("POST /delete with writes off: %d, want 403", code)
	}
	if code, _ := off.get("/delete"); code != 405 {
		t.Errorf("GET /delete: %d, want 405", code)
	}
	if _, body := off.get("/thread" + q("t", "demo")); strings.Contains(body, `name="csrf"`) {
		t.Error("write forms shown with writes off")
	}

	on := newClient(t, web.Handler(f.store, web.Options{AllowWrites: true}))
	_, page := on.get("/thread" + q("t", "demo"))
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the thread page with writes on")
	}
	token := m[1]
	for name, tc := range map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no token":     {url.Values{"t": {"demo"}}, nil},
		"wrong token":  {url.Values{"t": {"demo"}, "csrf": {strings.Repeat("0", len(token))}}, nil},
		"cross origin": {url.Values{"t": {"demo"}, "csrf": {token}}, map[string]string{"Origin": "http://evil.example"}},
	} {
		if code, _, _ := on.post("/delete", tc.form, tc.hdr); code != 403 {
			t.Errorf("%s: POST /delete %d, want 403", name, code)
		}
	}
	if _, err := f.store.Thread(context.Background(), "demo"); err != nil {
		t.Fatalf("a refused delete deleted the thread: %v", err)
	}
	code, _, h := on.post("/copy", url.Values{"t": {"demo"}, "dst": {"demo-copy"}, "csrf": {token}}, nil)
	if code != 303 || h.Get("Location") != "/thread?t=demo-copy" {
		t.Fatalf("copy: %d to %q", code, h.Get("Location"))
	}
	if code, _, _ := on.post("/copy", url.Values{"t": {"demo"}, "dst": {"demo-copy"}, "csrf": {token}}, nil); code != 409 {
		t.Errorf("copy onto an existing thread: %d, want 409", code)
	}
	if code, _, _ := on.post("/delete", url.Values{"t": {"demo-copy"}, "csrf": {token}, "x": {"1"}}, map[string]string{"Origin": on.srv.URL}); code != 303 {
		t.Fatalf("delete with token: %d", code)
	}
	if _, err := f.store.Thread(context.Background(), "demo-copy"); err == nil {
		t.Fatal("deleted thread still there")
	}
	if code, _, _ := on.post("/delete", url.Values{"t": {"nope"}, "csrf": {token}}, nil); code != 404 {
		t.Errorf("delete unknown thread: %d, want 404", code)
	}
}

func TestForkStoresABranchWithTheEditedState(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	on := newClient(t, web.Handler(f.store, web.Options{AllowWrites: true}))
	_, page := on.get("/checkpoint" + q("t", "demo", "id", f.ids[2]))
	m := csrfRE.FindStringSubmatch(page)
	if m == nil || !strings.Contains(page, "<textarea") {
		t.Fatal("no fork form on the checkpoint page")
	}
	parent, err := f.store.GetTuple(ctx, ckpt.Config{ThreadID: "demo", CheckpointID: f.ids[2]})
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"t": {"demo"}, "id": {f.ids[2]}, "csrf": {m[1]},
		"state": {`{"messages": [], "question": "Compare bbolt and SQLite", "turn": 3}`}}
	for _, bad := range []string{`[1]`, `{`, `{"a":1} {"b":2}`} {
		form.Set("state", bad)
		if code, _, _ := on.post("/fork", form, nil); code != 400 {
			t.Errorf("fork with state %s: %d, want 400", bad, code)
		}
	}
	form.Set("state", `{"messages": [], "question": "Compare bbolt and SQLite", "turn": 3}`)
	code, body, h := on.post("/fork", form, nil)
	if code != 303 {
		t.Fatalf("fork: %d\n%s", code, body)
	}
	loc, _ := url.Parse(h.Get("Location"))
	child, err := f.store.GetTuple(ctx, ckpt.Config{ThreadID: "demo", CheckpointID: loc.Query().Get("id")})
	if err != nil {
		t.Fatal(err)
	}
	if child.ParentConfig == nil || child.ParentConfig.CheckpointID != f.ids[2] {
		t.Fatalf("fork's parent: %+v, want %s", child.ParentConfig, f.ids[2])
	}
	var msgs []any
	if err := child.Decode("messages", &msgs); err != nil || len(msgs) != 0 {
		t.Errorf("edited channel: %v %v", msgs, err)
	}
	for _, ch := range []string{"question", "turn"} {
		if child.Checkpoint.ChannelVersions[ch] != parent.Checkpoint.ChannelVersions[ch] {
			t.Errorf("unedited channel %s got a new version %q (was %q)", ch, child.Checkpoint.ChannelVersions[ch], parent.Checkpoint.ChannelVersions[ch])
		}
	}
	if child.Checkpoint.ChannelVersions["messages"] == parent.Checkpoint.ChannelVersions["messages"] {
		t.Error("edited channel kept its version")
	}
	// The fork is the store's own (Save with WriteOptions.Parent): an edited
	// channel's version is the id of the checkpoint that wrote it, the one
	// scheme every Save follows, not a suffix made up by the browser.
	if got := child.Checkpoint.ChannelVersions["messages"]; got != child.Config.CheckpointID {
		t.Errorf("edited channel's version %q, want the fork's id %s", got, child.Config.CheckpointID)
	}
	if hist := first(t, f.store.History(ctx, "demo", ckpt.ListOptions{})); hist != child.Config.CheckpointID {
		t.Errorf("thread's current branch starts at %s, want the fork %s", hist, child.Config.CheckpointID)
	}
	// Save forks the root namespace only: a subgraph's checkpoint has no
	// fork form, and a forged POST is refused without writing.
	_, sub := on.get("/checkpoint" + q("t", "demo", "ns", "research:1", "id", f.sub[1]))
	if strings.Contains(sub, "<textarea") {
		t.Error("fork form on a subgraph checkpoint")
	}
	form.Set("ns", "research:1")
	form.Set("id", f.sub[1])
	if code, _, _ := on.post("/fork", form, nil); code != 400 {
		t.Errorf("fork in a subgraph namespace: %d, want 400", code)
	}
}

// first returns the id of the first snapshot a History yields.
func first(t *testing.T, seq iter.Seq2[*ckpt.Snapshot, error]) string {
	t.Helper()
	for s, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		return s.CheckpointID
	}
	return ""
}

func TestLargeValuesLoadOnDemand(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{InlineLimit: 64}))
	_, page := c.get("/checkpoint" + q("t", "demo", "id", f.ids[4]))
	if !strings.Contains(page, "large value: load it") || strings.Contains(page, "step responder") {
		t.Fatal("a value above InlineLimit is drawn inline")
	}
	code, frag := c.get("/value" + q("t", "demo", "id", f.ids[4], "ch", "messages", "fragment", "1"))
	if code != 200 || !strings.Contains(frag, "step responder") || strings.Contains(frag, "<html") {
		t.Fatalf("fragment: %d\n%s", code, frag)
	}
}

func TestHeadFollowsNewCheckpoints(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	_, before := c.get("/head" + q("t", "demo", "ns", ""))
	id, err := f.store.Save(context.Background(), "demo", map[string]any{"turn": 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, after := c.get("/head" + q("t", "demo", "ns", ""))
	if strings.Contains(before, id) || !strings.Contains(after, `"newest":"`+id+`"`) {
		t.Fatalf("head before %s, after %s; new id %s", before, after, id)
	}
	_, page := c.get("/thread" + q("t", "demo"))
	if !strings.Contains(page, `data-newest="`+id+`"`) {
		t.Error("the thread page does not name its newest checkpoint for the live poll")
	}
}

func TestPrefixMountsUnderAPath(t *testing.T) {
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("/debug/ckpt/", web.Handler(f.store, web.Options{Prefix: "/debug/ckpt"}))
	c := newClient(t, mux)
	code, body := c.get("/debug/ckpt/")
	if code != 200 || !strings.Contains(body, `href="/debug/ckpt/thread?t=demo"`) || !strings.Contains(body, `src="/debug/ckpt/static/app.js"`) {
		t.Fatalf("%d\n%s", code, body)
	}
	if code, _ := c.get("/debug/ckpt/static/app.css"); code != 200 {
		t.Errorf("static under prefix: %d", code)
	}
	if code, _ := c.get("/debug/ckptx"); code != 404 {
		t.Errorf("a path that only starts like the prefix: %d", code)
	}
}

func TestPagingWalksTheWholeHistory(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{PageSize: 3}))
	next := "/thread" + q("t", "demo")
	seen := map[string]bool{}
	older := regexp.MustCompile(`href="(/thread\?[^"]+)" id="older"`)
	cp := regexp.MustCompile(`title="([0-9A-Z]{26})"`)
	for pages := 0; next != ""; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		code, body := c.get(strings.ReplaceAll(next, "&amp;", "&"))
		if code != 200 {
			t.Fatalf("%s: %d\n%s", next, code, body)
		}
		for _, m := range cp.FindAllStringSubmatch(body, -1) {
			if seen[m[1]] {
				t.Fatalf("%s shown twice", m[1])
			}
			seen[m[1]] = true
		}
		next = ""
		if m := older.FindStringSubmatch(body); m != nil {
			next = m[1]
		}
	}
	if want := len(f.ids) + 1 + len(f.sub); len(seen) != want {
		t.Fatalf("paging showed %d checkpoints, want %d", len(seen), want)
	}
}

func TestDiffTuplesReportsAppendsChangesAndMetadata(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	get := func(id string) *ckpt.Tuple {
		tup, err := f.store.GetTuple(ctx, ckpt.Config{ThreadID: "demo", CheckpointID: id})
		if err != nil {
			t.Fatal(err)
		}
		return tup
	}
	d, err := web.DiffTuples(get(f.ids[1]), get(f.ids[2]))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Changed) != 2 || d.Changed[0].Channel != "messages" || len(d.Changed[0].Appended) != 1 ||
		d.Changed[1].Channel != "turn" || d.Changed[1].From != int64(2) || d.Changed[1].To != int64(3) {
		t.Errorf("changed: %+v", d.Changed)
	}
	if strings.Join(d.Unchanged, ",") != "question" {
		t.Errorf("unchanged: %v", d.Unchanged)
	}
	if c := d.MetadataChanged["node"]; c.From != "planner" || c.To != "research" {
		t.Errorf("metadata node: %+v", c)
	}
	// From the fork (its own "turn", the rest carried over by version) to
	// the end of the main line.
	d, err = web.DiffTuples(get(f.fork), get(f.ids[4]))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Added)+len(d.Removed) != 0 || len(d.Changed) != 2 || d.Changed[1].Channel != "turn" || d.Changed[1].From != int64(99) {
		t.Errorf("fork to main line: added %v removed %v changed %+v", d.Added, d.Removed, d.Changed)
	}
}

// TestEventsStreamNewCheckpoints reads the thread page's event stream: it
// names the newest checkpoint at once, names a checkpoint saved later when
// it arrives, and ends when the client goes away.
func TestEventsStreamNewCheckpoints(t *testing.T) {
	f := newFixture(t)
	h := web.Handler(f.store, web.Options{LiveInterval: 10 * time.Millisecond})
	ended := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == "/events" {
			ended <- struct{}{}
		}
	}))
	defer srv.Close()

	for _, bad := range []struct {
		query string
		code  int
	}{{q("t", "nope"), 404}, {q("t", "demo", "filter", "x"), 400}} {
		resp, err := http.Get(srv.URL + "/events" + bad.query)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		<-ended
		if resp.StatusCode != bad.code {
			t.Errorf("events%s: %d, want %d", bad.query, resp.StatusCode, bad.code)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/events"+q("t", "demo", "ns", ""), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" || resp.StatusCode != 200 {
		t.Fatalf("events: %d %q", resp.StatusCode, ct)
	}
	events := make(chan string)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- data
			}
		}
	}()
	next := func(what string) string {
		t.Helper()
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before %s", what)
			}
			return e
		case <-time.After(10 * time.Second): // only the failure detector
			t.Fatalf("no event for %s", what)
		}
		return ""
	}
	if e := next("the newest checkpoint"); e != `{"newest":"`+f.fork+`"}` {
		t.Fatalf("first event %s, want the newest root checkpoint %s", e, f.fork)
	}
	id, err := f.store.Save(context.Background(), "demo", map[string]any{"turn": 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := next("the new checkpoint"); e != `{"newest":"`+id+`"}` {
		t.Fatalf("after a save: %s, want %s", e, id)
	}
	cancel()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the event stream goes on after the client went away")
	}
}

// TestPickTwoRowsForADiff: the thread page's rows carry checkboxes of a
// form that asks /diff for the two picked checkpoints (no script needed);
// /diff sends the pair on as from (older) and to (newer).
func TestPickTwoRowsForADiff(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	_, page := c.get("/thread" + q("t", "demo"))
	for _, want := range []string{`<form method="get" action="/diff" id="pick"`, `name="pick" value="` + f.ids[1] + `"`, `name="pick" value="` + f.sub[0] + `@research:1"`} {
		if !strings.Contains(page, want) {
			t.Errorf("thread page lacks %s", want)
		}
	}
	req, _ := http.NewRequest("GET", c.srv.URL+"/diff"+q("t", "demo")+"&pick="+f.ids[3]+"&pick="+f.ids[1], nil)
	code, _, h := c.do(req)
	if want := "/diff" + q("a", f.ids[1], "b", f.ids[3], "t", "demo"); code != http.StatusSeeOther || h.Get("Location") != want {
		t.Errorf("two picks: %d to %q, want 303 to %q", code, h.Get("Location"), want)
	}
	req, _ = http.NewRequest("GET", c.srv.URL+"/diff"+q("t", "demo")+"&pick="+url.QueryEscape(f.sub[2]+"@research:1")+"&pick="+url.QueryEscape(f.sub[0]+"@research:1"), nil)
	code, _, h = c.do(req)
	if want := "/diff" + q("a", f.sub[0], "b", f.sub[2], "ns", "research:1", "t", "demo"); code != http.StatusSeeOther || h.Get("Location") != want {
		t.Errorf("two picks in a namespace: %d to %q, want 303 to %q", code, h.Get("Location"), want)
	}
	for name, picks := range map[string][]string{
		"one pick":             {f.ids[1]},
		"three picks":          {f.ids[1], f.ids[2], f.ids[3]},
		"different namespaces": {f.ids[1], f.sub[0] + "@research:1"},
	} {
		v := url.Values{"t": {"demo"}, "pick": picks}
		if code, _ := c.get("/diff?" + v.Encode()); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", name, code)
		}
	}
}

// The threads page shows each thread's last node, which costs a read of the
// whole newest checkpoint: it is read again only when the thread has a new
// newest checkpoint.
func TestThreadsPageReadsALastNodeOnlyWhenTheThreadChanged(t *testing.T) {
	f := newFixture(t)
	c := newClient(t, web.Handler(f.store, web.Options{}))
	lists := func() int64 { return f.store.Metrics().Ops[ckpt.OpList] }
	if code, body := c.get("/"); code != 200 || !strings.Contains(body, "<td>sub</td>") {
		t.Fatalf("GET /: %d\n%s", code, body)
	}
	before := lists()
	if code, body := c.get("/"); code != 200 || !strings.Contains(body, "<td>sub</td>") {
		t.Fatalf("GET / again: %d\n%s", code, body)
	}
	if n := lists() - before; n != 0 {
		t.Errorf("the same threads page again listed the store %d times, want 0", n)
	}
	if _, err := f.store.Save(context.Background(), "demo", map[string]any{"turn": 7}, ckpt.Metadata{"node": "again"}); err != nil {
		t.Fatal(err)
	}
	before = lists()
	code, body := c.get("/")
	if code != 200 || !strings.Contains(body, "<td>again</td>") || strings.Contains(body, "<td>sub</td>") {
		t.Fatalf("GET / after a new checkpoint: %d, want the new last node\n%s", code, body)
	}
	if n := lists() - before; n != 1 {
		t.Errorf("after one thread changed, the threads page listed the store %d times, want 1", n)
	}
}
