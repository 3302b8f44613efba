package redisstore

import (
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// Workers of one thread with different ThreadTTL settings: a worker
// without a TTL that creates a key of a thread that expires (its first
// blob, its first pending write) gives it the thread's expiry, so the
// thread still expires whole and no key of it lives for ever. A worker
// with a TTL gives it to every key of the thread.
func TestMixedThreadTTLLeavesNoKeyWithoutExpiry(t *testing.T) {
	srv := sharedServer(t)
	withTTL := newTestStore(t, srv, Options{ThreadTTL: time.Hour})
	noTTL := newTestStore(t, srv, Options{Prefix: withTTL.keys.prefix})
	allExpire := func(when, thread string) {
		t.Helper()
		n := 0
		for _, k := range withTTL.keys.thread(thread) {
			ms, err := withTTL.Client().Do(bg, "PTTL", k).Int64()
			if err != nil {
				t.Fatal(err)
			}
			if ms == -2 {
				continue // no such key
			}
			n++
			if ms <= 0 {
				t.Fatalf("%s: key %q has no expiry (%v)", when, k, ms)
			}
		}
		if n < int(nThreadKinds) {
			t.Fatalf("%s: %d keys of %d", when, n, nThreadKinds)
		}
	}
	cp := ckpt.Checkpoint{ChannelValues: map[string]any{"x": 1}, ChannelVersions: map[string]string{"x": "1"}}

	// The worker with a TTL starts the thread (no blob, no write yet); the
	// other adds a channel value and pending writes.
	c, err := withTTL.Put(bg, ckpt.Config{ThreadID: "a"}, ckpt.Checkpoint{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err = noTTL.Put(bg, c, cp, nil, map[string]string{"x": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := noTTL.PutWrites(bg, c, []ckpt.Write{{Channel: "x", Value: 2}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	allExpire("keys made by the worker without a TTL", "a")

	// The reverse: the worker without a TTL makes every key, the worker
	// with one writes next.
	c, err = noTTL.PutFull(bg, ckpt.Config{ThreadID: "b"}, cp, nil, map[string]string{"x": "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := noTTL.PutWrites(bg, c, []ckpt.Write{{Channel: "x", Value: 2}}, "task", ""); err != nil {
		t.Fatal(err)
	}
	if err := withTTL.PutWrites(bg, c, []ckpt.Write{{Channel: "x", Value: 3}}, "task2", ""); err != nil {
		t.Fatal(err)
	}
	allExpire("after a write of the worker with a TTL", "b")
}
