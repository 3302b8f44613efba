package ckpt

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// h216: a callback of the user's that the store calls while it holds a
// bbolt read transaction (or the commit loop) must not hang the store
// when it writes. A commit that must grow bbolt's memory map waits for
// every open read transaction; a write the callback waits for, which
// waits for the transaction the callback runs in, never ends. The tests
// map the file small (Bolt.InitialMmapSize) so that the write's commit
// must grow the map, and fail with every goroutine's stack, rather than
// hang the suite, when the call does not return.

// h216Hang is how long a call gets before the test calls it hung: far
// beyond what any of these calls takes (well under a second) on a loaded
// machine; a hang never ends.
const h216Hang = 60 * time.Second

// h216Wait fails the test with every goroutine's stack if done is not
// closed within h216Hang, and reports whether it was (a hung store must
// not be closed by the test's cleanup: that Close would hang too).
func h216Wait(t *testing.T, done <-chan struct{}, what string) bool {
	t.Helper()
	select {
	case <-done:
		return true
	case <-time.After(h216Hang):
		buf := make([]byte, 4<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("%s did not return within %v (hung); goroutines:\n%s", what, h216Hang, buf[:n])
		return false
	}
}

// h216Open opens path mapped small; the test's cleanup closes it unless
// *hung is set.
func h216Open(t *testing.T, path string, noWAL bool, hung *bool) *Store {
	t.Helper()
	s, err := Open(path, Options{NoWAL: noWAL, Bolt: &bolt.Options{InitialMmapSize: 32 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !*hung {
			_ = s.Close()
		}
	})
	return s
}

// h216Big is a value whose commit into bbolt must grow a map of 32 KiB.
func h216Big() map[string]any {
	return map[string]any{"v": bytes.Repeat([]byte{0xa5}, 4<<20)}
}

// h216Seed writes two small threads, so that Verify calls Progress.
func h216Seed(t *testing.T, s *Store) {
	t.Helper()
	for _, th := range []string{"a", "b"} {
		if _, err := s.Save(context.Background(), th, map[string]any{"x": 1}, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// h216VerifySaving runs a Verify whose Progress saves n big values, the
// first time it is called, and checks that both end, and that the values
// were written.
func h216VerifySaving(t *testing.T, s *Store, n int, hung *bool) {
	t.Helper()
	ctx := context.Background()
	var saveErr error
	saved := false
	var rep *VerifyReport
	var verr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, verr = s.Verify(ctx, VerifyOptions{Progress: func(int) {
			if saved {
				return
			}
			saved = true
			for i := 0; i < n && saveErr == nil; i++ {
				_, saveErr = s.Save(ctx, "big", h216Big(), nil)
			}
		}})
	}()
	if !h216Wait(t, done, "Verify whose Progress saves") {
		*hung = true
		return
	}
	if verr != nil || !rep.OK() {
		t.Fatalf("Verify: %v %+v", verr, rep)
	}
	if !saved || saveErr != nil {
		t.Fatalf("Progress called: %v; its Save: %v", saved, saveErr)
	}
	snap, err := s.Latest(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	var v []byte
	if err := snap.Decode("v", &v); err != nil || len(v) != 4<<20 {
		t.Fatalf("the value saved from Progress reads back as %d bytes (%v)", len(v), err)
	}
}

// TestH216VerifyProgressSavesNoWAL: with NoWAL every write commits into
// bbolt, and Verify runs in the commit loop.
func TestH216VerifyProgressSavesNoWAL(t *testing.T) {
	var hung bool
	s := h216Open(t, filepath.Join(t.TempDir(), "s.db"), true, &hung)
	h216Seed(t, s)
	h216VerifySaving(t, s, 1, &hung)
}

// TestH216VerifyProgressSavesLogged: with the log a write is acknowledged
// once logged, but past 32 MB logged and not applied
// (engine.MaxUnapplied) the commit loop applies the log into bbolt
// itself before it logs more, and that commit must grow the map.
func TestH216VerifyProgressSavesLogged(t *testing.T) {
	var hung bool
	s := h216Open(t, filepath.Join(t.TempDir(), "s.db"), false, &hung)
	h216Seed(t, s)
	h216VerifySaving(t, s, engine.MaxUnapplied/(4<<20)+2, &hung)
}

// TestH216VerifyProgressCounts: Progress, called off Verify's read, gets
// rising counts ending with the last one, and no call after Verify
// returns; its panic is Verify's, not a damaged file's problem nor the
// process's end.
func TestH216VerifyProgressCounts(t *testing.T) {
	for _, noWAL := range []bool{false, true} {
		var hung bool
		s := h216Open(t, filepath.Join(t.TempDir(), "s.db"), noWAL, &hung)
		for i := range 20 {
			if _, err := s.Save(context.Background(), fmt.Sprint("t", i), map[string]any{"x": i}, nil); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		var counts []int
		returned := false
		rep, err := s.Verify(context.Background(), VerifyOptions{Progress: func(n int) {
			mu.Lock()
			defer mu.Unlock()
			if returned {
				t.Errorf("noWAL %v: Progress(%d) called after Verify returned", noWAL, n)
			}
			counts = append(counts, n)
		}})
		mu.Lock()
		returned = true
		got := append([]int(nil), counts...)
		mu.Unlock()
		if err != nil || !rep.OK() || rep.Threads != 20 {
			t.Fatalf("noWAL %v: Verify: %v %+v", noWAL, err, rep)
		}
		if len(got) == 0 || got[len(got)-1] != 20 || !slices.IsSorted(got) {
			t.Fatalf("noWAL %v: Progress got %v, want rising counts ending with 20", noWAL, got)
		}
		func() {
			defer func() {
				if p := recover(); p != "h216" {
					t.Fatalf("noWAL %v: Verify whose Progress panics: recovered %v, want its panic", noWAL, p)
				}
			}()
			rep, err := s.Verify(context.Background(), VerifyOptions{Progress: func(int) { panic("h216") }})
			t.Fatalf("noWAL %v: Verify returned %v %+v past its Progress's panic", noWAL, err, rep)
		}()
	}
}
