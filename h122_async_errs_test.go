package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// asyncFailures is how many failed Async writes err, heard by
// OnAsyncError, stands for: one, or past engine.MaxAsyncErrs queued while
// the callback ran, the count of an engine.MoreAsyncErrs.
func asyncFailures(err error) int {
	if m, ok := errors.AsType[*engine.MoreAsyncErrs](err); ok {
		return m.N
	}
	return 1
}

// A service that writes Async and hears of failures through
// OnAsyncError may never call Flush: the failures the store keeps for the
// next Flush must not grow without bound (one error kept per failed write
// was memory that only grew). Live heap (HeapAlloc after a GC) after n failed
// writes and after 5n: a kept error of even 100 bytes shows as 400·n
// bytes more. The next Flush still says that writes failed, with a
// sentinel errors.Is finds. CKPT_ASYNC_FAILS sets n (default 2,000).
func TestFailedAsyncWritesKeepBoundedMemory(t *testing.T) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv("CKPT_ASYNC_FAILS")); err == nil && v > 0 {
		n = v
	}
	var heard atomic.Int64
	s, err := Open(filepath.Join(t.TempDir(), "a.ckpt"), Options{
		Durability:   Async,
		OnAsyncError: func(err error) { heard.Add(int64(asyncFailures(err))) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Save(WithWriteOptions(ctx, WriteOptions{Durability: Sync}), "t", map[string]any{"v": 0}, nil); err != nil {
		t.Fatal(err)
	}
	// Each names a parent that is no longer the head: ErrConflict, found
	// by the commit loop after the call returned.
	stale := WithWriteOptions(ctx, WriteOptions{IfHead: true, Parent: ""})
	fail := func(k int) {
		for range k {
			if _, err := s.Save(stale, "t", map[string]any{"v": 1}, nil); err != nil {
				t.Fatal(err)
			}
		}
		// Wait for them without taking their errors (Flush would).
		if _, err := s.Latest(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		if err := s.seeQueued(ctx); err != nil {
			t.Fatal(err)
		}
	}
	fail(n)
	h1 := liveHeap()
	fail(4 * n)
	h2 := liveHeap()
	t.Logf("live heap after %d failed async writes: %d KB, after %d: %d KB", n, h1>>10, 5*n, h2>>10)
	// The callback runs off the commit loop: wait until it heard of all.
	if err := s.eng.AwaitCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
	if got := heard.Load(); got != int64(5*n) {
		t.Fatalf("OnAsyncError heard %d failures, want %d", got, 5*n)
	}
	if h2 > h1 && h2-h1 > uint64(4*n)*100 {
		t.Errorf("live heap grew by %d bytes over %d more failed async writes: %d bytes each", h2-h1, 4*n, (h2-h1)/uint64(4*n))
	}
	err = s.Flush(ctx)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Flush after failed async writes: %v, want ErrConflict", err)
	}
	if more := strconv.Itoa(5*n-engine.MaxAsyncErrs) + " more"; !strings.Contains(err.Error(), more) {
		t.Errorf("Flush's error does not count the failures it did not keep (%q): %.300s", more, err)
	}
	if len(err.Error()) > 64<<10 {
		t.Errorf("Flush's error is %d bytes long", len(err.Error()))
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("a second Flush: %v", err)
	}
}
