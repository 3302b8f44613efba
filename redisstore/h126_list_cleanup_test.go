package redisstore

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// listAll returns the ids List yields across threads, failing the test on
// an error.
func listAll(t *testing.T, ctx context.Context, s *Store) []string {
	t.Helper()
	var got []string
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		got = append(got, tp.Config.CheckpointID)
	}
	return got
}

// A List that meets index entries of threads that expired answers without
// them, and neither fails nor waits for their removal, a write: not while
// Redis holds writes back (CLIENT PAUSE WRITE, as FAILOVER does), nor on
// a primary demoted to a read-only replica.
func TestH126ListOverExpiredThreadsNeverWaitsForItsCleanup(t *testing.T) {
	srv := ownServer(t)
	s := newTestStore(t, srv, Options{})
	live := step(t, s, ckpt.Config{ThreadID: "live"}, 1)
	gone := ckpt.Config{ThreadID: "gone"}
	for n := 1; n <= 3; n++ {
		gone = step(t, s, gone, n)
	}
	// The thread expires: its keys go, its index entries stay.
	if err := s.Client().Del(bg, s.keys.thread("gone")...).Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{live.CheckpointID}
	entries := func() int64 {
		t.Helper()
		n, err := s.Client().ZCard(bg, s.keys.index()).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A read-only replica (of a primary that is not there: it keeps its
	// data and refuses writes).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := s.Client().Do(bg, "REPLICAOF", "127.0.0.1", strconv.Itoa(port)).Err(); err != nil {
		t.Fatal(err)
	}
	// A bound for a call that would otherwise wait, not a measure of
	// speed: a read that is not held back takes a millisecond.
	ctx, cancel := context.WithTimeout(bg, 3*time.Second)
	got := listAll(t, ctx, s)
	cancel()
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v on a read-only replica, want %v", got, want)
	}
	s.waitCleanup() // refused: nothing removed
	if err := s.Client().Do(bg, "REPLICAOF", "NO", "ONE").Err(); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 4 {
		t.Fatalf("index holds %d entries after a List on a replica, want 4", n)
	}

	// Writes held back.
	if err := s.Client().Do(bg, "CLIENT", "PAUSE", 60_000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(bg, 3*time.Second)
	got = listAll(t, ctx, s)
	cancel()
	if !slices.Equal(got, want) {
		t.Fatalf("listed %v while writes pause, want %v", got, want)
	}
	if err := s.Client().Do(bg, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	// The removal the pause held back goes through after it.
	s.waitCleanup()
	if n := entries(); n != 1 {
		t.Fatalf("index holds %d entries after the pause, want 1", n)
	}
	if got := listAll(t, bg, s); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
}
