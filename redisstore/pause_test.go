package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/redisstore/redistest"
)

// While Redis holds writes back (CLIENT PAUSE WRITE, as FAILOVER does
// while a replica catches up), reads go on: GetTuple and List run
// read-only scripts, which the pause does not hold.
func TestReadsGoOnWhileRedisPausesWrites(t *testing.T) {
	srv := ownServer(t)
	s := newTestStore(t, srv, Options{})
	c := step(t, s, ckpt.Config{ThreadID: "p"}, 1)
	if err := s.Client().Do(bg, "CLIENT", "PAUSE", 60_000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	defer s.Client().Do(bg, "CLIENT", "UNPAUSE")
	// A bound for a call that would otherwise wait for the pause's end,
	// not a measure of speed: a read that is not held back takes a
	// millisecond.
	ctx, cancel := context.WithTimeout(bg, 3*time.Second)
	defer cancel()
	if _, err := s.GetTuple(ctx, c); err != nil {
		t.Fatalf("get while writes pause: %v", err)
	}
	for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "p"}) {
		if err != nil {
			t.Fatalf("list while writes pause: %v", err)
		}
	}
}

// A Redis without EVALSHA_RO (before 7.0) runs the read scripts by
// EVALSHA.
func TestReadsWithoutReadOnlyScripts(t *testing.T) {
	redistest.Need(t)
	srv, err := redistest.Start(t.TempDir(), "--rename-command", "EVALSHA_RO", "", "--rename-command", "EVAL_RO", "")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	s := newTestStore(t, srv, Options{})
	if s.readOnly {
		t.Fatal("read-only scripts on a Redis without EVALSHA_RO")
	}
	c := step(t, s, ckpt.Config{ThreadID: "p"}, 1)
	if _, err := s.GetTuple(bg, c); err != nil {
		t.Fatal(err)
	}
	for _, err := range s.List(bg, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
	}
}
