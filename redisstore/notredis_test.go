package redisstore

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// An address where something other than Redis listens (an HTTP server, a
// port reused after Redis went away) is Redis not reachable there: New and
// every call fail with ErrUnavailable (New says ErrNotRedis), not an
// untyped protocol error.
func TestNonRedisListenerIsErrUnavailable(t *testing.T) {
	redistest.Need(t)
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	addr := web.Listener.Addr().String()
	_, err := New(bg, Options{Redis: &redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1}})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, ErrNotRedis) {
		t.Fatalf("New on an HTTP server: %v, want ErrNotRedis (ErrUnavailable)", err)
	}

	srv, err := redistest.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, srv, Options{Redis: &redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1}})
	c := step(t, s, ckpt.Config{ThreadID: "h"}, 1)
	srv.Kill()
	l, err := net.Listen("tcp", srv.Addr())
	if err != nil {
		t.Skipf("the port of the killed server is taken: %v", err)
	}
	other := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.NotFoundHandler()}}
	other.Start()
	defer other.Close()
	for range 2 { // the first call meets the broken connection, the next dials
		_, err = s.Put(bg, c, ckpt.Checkpoint{}, nil, nil)
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("put with an HTTP server on the port: %v, want ErrUnavailable", err)
	}
	if _, err := s.GetTuple(bg, c); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("get with an HTTP server on the port: %v, want ErrUnavailable", err)
	}
	for _, err := range s.List(bg, ckpt.ListOptions{}) {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("list with an HTTP server on the port: %v, want ErrUnavailable", err)
		}
	}
}
