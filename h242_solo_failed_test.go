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

// TestH242SoloBehindAFailedFsyncRefuses: a Compact or ApplyLog queued
// behind an Async write whose log fsync is in flight, and fails, runs after
// the store failed: it must refuse with ErrFailed and change nothing, as
// on any failed store (docs/durability.md: "GC, Compact, Backup and
// BackupFile on a failed store refuse with that error and change
// nothing"). The commit loop takes the solo op while the fsync is in
// flight and waits for it there (drainFlights), which notes the failure;
// the op then ran all the same: Compact renamed a new file into place and
// returned nil, ApplyLog returned nil.
//
// The "gc" case (h246): a GC whose policy selects nothing waits for the
// writes queued before it (seeQueued), the store fails meanwhile, and it
// returned nil on the failed store.
func TestH242SoloBehindAFailedFsyncRefuses(t *testing.T) {
	type solo struct {
		call func(context.Context, *Store) error
		// waits is the function the call's goroutine is in once it waits
		// behind the fsync in flight.
		waits string
	}
	calls := map[string]solo{
		"compact":  {func(ctx context.Context, s *Store) error { _, err := s.Compact(ctx, nil); return err }, "engine.(*Engine).runSolo"},
		"applylog": {func(ctx context.Context, s *Store) error { return s.ApplyLog(ctx) }, "engine.(*Engine).runSolo"},
		// One checkpoint per thread, 100 kept: it selects nothing.
		"gc": {func(ctx context.Context, s *Store) error { _, err := s.GC(ctx, Policy{KeepLast: 100}); return err }, "ckpt.(*Store).seeQueued"},
	}
	for name, c := range calls {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.db")
			var armed, compacted atomic.Bool
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
				CompactStage: func(string) { compacted.Store(true) },
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
			before, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			armed.Store(true)
			id, err := s.Save(ctx, "lost", map[string]any{"v": 2}, nil)
			if err != nil {
				t.Fatalf("the Async Save returned %v", err)
			}
			select {
			case <-entered:
			case <-time.After(30 * time.Second):
				t.Fatal("the Async Save's log fsync never began")
			}
			done := make(chan error, 1)
			go func() { done <- c.call(ctx, s) }()
			// Release the fsync once the call waits behind the fsync in
			// flight (runSolo's drainFlights; GC's seeQueued).
			deadline := time.Now().Add(30 * time.Second)
			buf := make([]byte, 1<<20)
			for !strings.Contains(string(buf[:runtime.Stack(buf, true)]), c.waits) {
				if time.Now().After(deadline) {
					close(release)
					t.Fatalf("the %s never waited behind the fsync", name)
				}
				runtime.Gosched()
			}
			close(release)
			callErr := <-done
			closeErr := s.Close()
			if !errors.Is(callErr, ErrFailed) {
				t.Errorf("%s behind the failed fsync: %v, want ErrFailed", name, callErr)
			}
			if compacted.Load() {
				t.Errorf("%s ran a compaction on a failed store", name)
			}
			if after, err := os.Stat(path); err != nil || !os.SameFile(before, after) {
				t.Errorf("the store's file was replaced on a failed store (stat: %v)", err)
			}
			if closeErr == nil || !strings.Contains(closeErr.Error(), id) {
				t.Errorf("Close: %v; want the failure of Async Save %s", closeErr, id)
			}
			r, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if _, err := r.GetTuple(ctx, Config{ThreadID: "lost"}); !errors.Is(err, ErrNotFound) {
				t.Errorf("the failed Save after a reopen: %v, want ErrNotFound", err)
			}
			if _, err := r.GetTuple(ctx, Config{ThreadID: "kept"}); err != nil {
				t.Errorf("the flushed Save after a reopen: %v", err)
			}
		})
	}
}
