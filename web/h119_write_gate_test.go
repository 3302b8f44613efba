package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// With AllowWrites, the write actions ran beside the gate, uncharged: a
// script holding the page's token could loop POST /copy of a large thread
// (a whole thread's history read and written per request) and take a core
// from the program's writers, which the gate holds every page build to a
// share of. Each action passes the gate and is charged like a page build.
func TestWriteActionsPassTheGate(t *testing.T) {
	ctx := context.Background()
	st, err := ckpt.Open(filepath.Join(t.TempDir(), "w.db"), ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Save(ctx, "src", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	s := Handler(st, Options{AllowWrites: true}).(*server)
	c := &fakeClock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)}
	// Every reading of the clock is a millisecond later: an action
	// takes time on it, whatever it does.
	s.gate.now = func() time.Time { c.t = c.t.Add(time.Millisecond); return c.t }
	s.gate.sleep = c.sleep
	post := func(path string, form url.Values) {
		t.Helper()
		form.Set("csrf", s.token)
		req := httptest.NewRequest("POST", "http://127.0.0.1"+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	post("/copy", url.Values{"t": {"src"}, "dst": {"a"}})
	post("/copy", url.Values{"t": {"src"}, "dst": {"b"}})
	if len(c.sleeps) == 0 {
		t.Fatalf("two write actions back to back: the second did not wait at the gate")
	}
}
