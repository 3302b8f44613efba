package web_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// TestHeadAndEventsNeedTheThread: /head and /events without t= (or with
// an empty one). To the store an empty ThreadID in a listing means every
// thread, so they answered 200 with the newest checkpoint of whichever
// thread had one (a poll that followed no thread in particular). Thread
// ids are never empty: both answer 400 naming the missing parameter.
// The thread page's own links give t=, and they keep working.
func TestHeadAndEventsNeedTheThread(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(context.Background(), "a", map[string]any{"x": 1}, ckpt.Metadata{"step": 0}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler(s, web.Options{}))
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.Header.Get("Content-Type") == "text/event-stream" {
			// A stream that began: its first event is enough (it goes on
			// until the client leaves).
			line, _ := bufio.NewReader(resp.Body).ReadString('\n')
			return resp.StatusCode, line
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/head", "/head?t=", "/head?ns=", "/events", "/events?t=", "/events?filter=step%3D0"} {
		code, body := get(p)
		if code != http.StatusBadRequest || !strings.Contains(body, "t: the thread's id is missing") {
			t.Errorf("GET %s: %d %q, want 400 saying the thread's id (t=) is missing", p, code, body)
		}
	}
	code, body := get("/thread?t=a")
	if code != 200 {
		t.Fatalf("thread page: %d", code)
	}
	if !strings.Contains(body, "/head?t=a") || !strings.Contains(body, "/events?t=a") {
		t.Fatalf("the thread page no longer links its head and events with t=a:\n%s", body)
	}
	for _, p := range []string{"/head?t=a", "/events?t=a"} {
		if code, body := get(p); code != 200 || !strings.Contains(body, "newest") {
			t.Errorf("GET %s: %d %q, want 200 naming the newest checkpoint", p, code, body)
		}
	}
}
