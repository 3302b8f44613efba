package redisstore

import (
	"errors"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// A Redis that lost its data (restarted without persistence) while a
// store ran lost the layout marker too. The store's next write puts it
// back, so what it writes is marked as its layout; and a marker of
// another layout, written meanwhile by another build's New, makes the
// write fail with ckpt.ErrFormatVersion instead of mixing layouts.
func TestWriteAfterDataLossRestoresTheFormatMarker(t *testing.T) {
	redistest.Need(t)
	if testing.Short() {
		t.Skip("restarts redis-server")
	}
	srv, err := redistest.Start(t.TempDir(), "--appendonly", "no")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	s := newTestStore(t, srv, Options{Redis: &redis.Options{MaxRetries: 1, DialerRetries: 1}})
	step(t, s, ckpt.Config{ThreadID: "before"}, 1)
	srv.Kill()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the first call may meet the connection the restart broke
		if _, err = s.Put(bg, ckpt.Config{ThreadID: "after"}, ckpt.Checkpoint{}, nil, nil); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Client().Get(bg, s.keys.format()).Result(); v != formatVersion {
		t.Fatalf("marker after a write on the emptied Redis: %q, %v; want %q", v, err, formatVersion)
	}

	if err := s.Client().Set(bg, s.keys.format(), "99", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(bg, ckpt.Config{ThreadID: "other"}, ckpt.Checkpoint{}, nil, nil)
	if !errors.Is(err, ckpt.ErrFormatVersion) {
		t.Fatalf("put under another layout's marker: %v, want ErrFormatVersion", err)
	}
	if _, err := s.GetTuple(bg, ckpt.Config{ThreadID: "other"}); !errors.Is(err, ckpt.ErrNotFound) {
		t.Fatalf("the refused put wrote: %v", err)
	}
}
