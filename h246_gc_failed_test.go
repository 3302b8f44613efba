package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestH246GCBehindAFailedFsyncRefuses: a GC called while an Async write's
// log fsync is in flight, which then fails the store, must refuse with
// ErrFailed as on any failed store (docs/durability.md: "GC, Compact,
// Backup and BackupFile on a failed store refuse with that error and
// change nothing"), even when its policy selects nothing: it first waits
// for the writes queued before it (seeQueued), and the store failed
// meanwhile. It returned nil, so a caller that runs GC to learn whether
// the store still takes writes was told it did (h242's report).
func TestH246GCBehindAFailedFsyncRefuses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	hooks := engine.Hooks{
		SyncLog: func(f *os.File) error {
			if armed.CompareAndSwap(true, false) {
				close(entered)
				<-release
				return errors.New("disk on fire")
			}
			return engine.Fdatasync(f)
		},
	}
	s, err := Open(path, Options{Durability: Async, tuning: &tuning{hooks: hooks}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(ctx, "kept", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if _, err := s.Save(ctx, "lost", map[string]any{"v": 2}, nil); err != nil {
		t.Fatalf("the Async Save returned %v", err)
	}
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the Async Save's log fsync never began")
	}
	done := make(chan error, 1)
	go func() {
		// Selects nothing: one checkpoint per thread, 100 kept.
		_, err := s.GC(ctx, Policy{KeepLast: 100})
		done <- err
	}()
	// Release the fsync once GC waits for the writes queued before it.
	deadline := time.Now().Add(30 * time.Second)
	buf := make([]byte, 1<<20)
	for !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "ckpt.(*Store).seeQueued") {
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("GC never waited for the queued writes")
		}
		runtime.Gosched()
	}
	close(release)
	gcErr := <-done
	_ = s.Close() // names the failed Save (TestH242...)
	if !errors.Is(gcErr, ErrFailed) {
		t.Errorf("GC behind the failed fsync: %v, want ErrFailed", gcErr)
	}
}
