package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
)

// h245Store writes a store of a few threads at a new path and closes it.
func h245Store(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "s.db")
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		for step := range 4 {
			if _, err := s.Save(t.Context(), fmt.Sprintf("t%d", i), map[string]any{"step": step}, ckpt.Metadata{"step": step}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return db
}

// h245Free says whether a service's Open gets db's file (the lender let
// go of it): the Open's wait is a failure detector.
func h245Free(t *testing.T, db string) {
	t.Helper()
	s, err := ckpt.Open(db, ckpt.Options{LockTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("a service's Open once no page is built: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// Pages asked for from many clients at once, while the lender closes the
// file as soon as none is built (an idle time of zero) and opens it again
// for the next: every page answers 200 from an open store (none is closed
// under a page that reads it), and once they are done the file is free.
// Run with -race.
func TestH245LenderUnderConcurrentPages(t *testing.T) {
	db := h245Store(t)
	open := func() (*ckpt.Store, error) {
		return ckpt.Open(db, ckpt.Options{ReadOnly: true, LockTimeout: 30 * time.Second})
	}
	first, err := open()
	if err != nil {
		t.Fatal(err)
	}
	l := newUILender(first, open, io.Discard, 0)
	srv := httptest.NewServer(web.LentHandler(db, l, web.Options{MaxCPUShare: 1}))
	defer srv.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 15 {
				page := []string{"/", fmt.Sprintf("/thread?t=t%d", (g+i)%3), fmt.Sprintf("/head?t=t%d", g%3)}[i%3]
				resp, err := srv.Client().Get(srv.URL + page)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("%s: %d\n%s", page, resp.StatusCode, b)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	h245Free(t, db)
	if s := l.shut(); s != nil {
		t.Errorf("the lender still held the store after the pages")
		_ = s.Close()
	}
	if _, err := l.Borrow(context.Background()); !errors.Is(err, errUIClosed) {
		t.Errorf("a borrow after shut: %v, want errUIClosed", err)
	}
}

// A borrow while another process holds the file gives the open's error
// (ErrLocked), and lends nothing: the next borrow, once the file is free,
// opens it. An event stream's read (poll) does not keep the file open.
func TestH245LenderHeldFile(t *testing.T) {
	db := h245Store(t)
	open := func() (*ckpt.Store, error) {
		return ckpt.Open(db, ckpt.Options{ReadOnly: true, LockTimeout: time.Millisecond})
	}
	first, err := open()
	if err != nil {
		t.Fatal(err)
	}
	l := newUILender(first, open, io.Discard, time.Hour)
	st, err := l.Borrow(t.Context())
	if err != nil || st != first {
		t.Fatalf("a borrow within the idle time: %v, %v, want the open store", st, err)
	}
	l.Return(false)
	if s := l.shut(); s != first {
		t.Fatalf("shut: %v, want the open store", s)
	}
	_ = first.Close()

	l = newUILender(nil, open, io.Discard, 0)
	svc, err := ckpt.Open(db, ckpt.Options{LockTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Borrow(t.Context()); !errors.Is(err, ckpt.ErrLocked) {
		t.Fatalf("a borrow while a service holds the file: %v, want ErrLocked", err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Borrow(t.Context()); err != nil {
		t.Fatalf("a borrow once the service closed the file: %v", err)
	}
	l.Return(true)
	h245Free(t, db)
	if s := l.shut(); s != nil {
		t.Errorf("the lender held the store after a poll")
	}
}
