package web_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// fakeLender lends st, or fails with err, and counts what is out.
type fakeLender struct {
	mu          sync.Mutex
	st          *ckpt.Store
	err         error
	out         int // borrows not returned
	pages, poll int // returns, by kind
}

func (l *fakeLender) Borrow(context.Context) (*ckpt.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	l.out++
	return l.st, nil
}

func (l *fakeLender) Return(poll bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.out--
	if poll {
		l.poll++
	} else {
		l.pages++
	}
}

func (l *fakeLender) counts() (out, pages, poll int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.out, l.pages, l.poll
}

// A lent store (LentHandler, ckpt ui): each page borrows it and gives it
// back once built; static files borrow nothing; an event stream borrows
// it for each read alone, as a poll, so it holds nothing between reads; a
// borrow that fails because another process holds the file answers 503
// with the lender's words, and the next page borrows again.
func TestH245LentHandler(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "s.db")
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "t", map[string]any{"n": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = ckpt.Open(db, ckpt.Options{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := &fakeLender{st: s}
	c := newClient(t, web.LentHandler(db, l, web.Options{AllowWrites: true}))
	for _, page := range []string{"/", "/thread?t=t", "/stats", "/head?t=t"} {
		if code, body := c.get(page); code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", page, code, body)
		}
	}
	if out, pages, _ := l.counts(); out != 0 || pages != 4 {
		t.Fatalf("after 4 pages: %d borrows out, %d returned, want 0 and 4", out, pages)
	}
	if code, body := c.get("/"); code != http.StatusOK || strings.Contains(body, "write actions on") || !strings.Contains(body, "read-only store") {
		t.Errorf("the threads page of a lent store with AllowWrites does not say the store is read-only: %d\n%s", code, body)
	}
	if code, _ := c.get("/static/app.js"); code != http.StatusOK {
		t.Errorf("GET /static/app.js: %d", code)
	}
	if _, pages, _ := l.counts(); pages != 5 {
		t.Errorf("a static file borrowed the store (%d pages returned, want 5)", pages)
	}

	req, err := http.NewRequestWithContext(ctx, "GET", c.srv.URL+"/events?t=t", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(ev, "data: ") {
		t.Fatalf("the event stream's first event: %q, %v", ev, err)
	}
	if out, _, poll := l.counts(); out != 0 || poll != 1 {
		t.Errorf("an open event stream after its first read: %d borrows out, %d polls returned, want 0 and 1", out, poll)
	}
	_ = resp.Body.Close()

	l.mu.Lock()
	l.err = fmt.Errorf("%s is held by another process (a program has the store open): %w", db, ckpt.ErrLocked)
	l.mu.Unlock()
	for _, page := range []string{"/", "/thread?t=t", "/checkpoint?t=t&id=x", "/events?t=t"} {
		if code, body := c.get(page); code != http.StatusServiceUnavailable || !strings.Contains(body, "is held by another process") {
			t.Errorf("GET %s while the file is held: %d, want 503 saying so\n%s", page, code, body)
		}
	}
	l.mu.Lock()
	l.err = nil
	l.mu.Unlock()
	if code, body := c.get("/thread?t=t"); code != http.StatusOK {
		t.Errorf("GET /thread once the file is free: %d\n%s", code, body)
	}
}
