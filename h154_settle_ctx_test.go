package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// Export on a failed store waits for the groups whose fsync was in flight
// when it failed (engine.Settle, 61f9374), but it must still leave when its
// ctx ends: Settle writes nothing, so nothing is gained by holding its
// caller once the loop has the op. Before, runSolo claimed the op before
// it looked at Settle, and an Export behind a stalled log fsync ran on
// past its 200 ms ctx until the disk came back (helper-154's review).
func TestExportOnAFailedStoreLeavesWhenItsContextEnds(t *testing.T) {
	sf := openStalledFsync(t, true) // its Async write's group's fsync in flight, and staying there
	sf.failCommit.Store(true)
	// The applier's commit of the Sync write, held until now, fails the
	// store. Not held, the applier could commit it before failCommit was
	// set, leaving nothing to apply (the Async write's group is not
	// durable): this loop then spun until the test binary's timeout (seen
	// under -race on a loaded machine, 11 minutes at line 28).
	sf.openGate()
	for sf.s.eng.Failed() == nil {
		sf.s.eng.ApplyNow() // the applier's commit fails the store
	}
	leavesWithItsContext(t, sf, "Export", func(ctx context.Context) error {
		_, err := sf.s.Export(ctx, &bytes.Buffer{}, ExportOptions{})
		return err
	})
	sf.release()
	_ = sf.s.Close() // the store failed: Close reports it
}

// The same on a store that did not fail: Export, GC and Prune first wait
// for the Async writes queued before them with a no-op write (seeQueued),
// which the loop takes into the group it builds while the log's fsync is
// in flight. Taken, it held its caller past its ctx until the disk came
// back, though it writes nothing (helper-154's review; so before h150 too).
func TestExportBehindAStalledFsyncLeavesWhenItsContextEnds(t *testing.T) {
	sf := openStalledFsync(t, false)
	leavesWithItsContext(t, sf, "Export", func(ctx context.Context) error {
		_, err := sf.s.Export(ctx, &bytes.Buffer{}, ExportOptions{})
		return err
	})
	leavesWithItsContext(t, sf, "GC", func(ctx context.Context) error {
		_, err := sf.s.GC(ctx, Policy{KeepLast: 1})
		return err
	})
	sf.release()
	if err := sf.s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := countThread(t, sf.s.path, "t"); n != 2 {
		t.Errorf("thread t holds %d checkpoints, 2 acknowledged (GC gave up before it planned)", n)
	}
}

// stalledFsync is a store whose log fsync of the group of an Async write
// it makes is held until release (a stalled disk); failCommit makes the
// applier's bbolt commits fail; with holdCommits, the applier's (and any
// other hooked) bbolt commits wait from the first write until openGate.
type stalledFsync struct {
	s          *Store
	failCommit atomic.Bool
	release    func()
	openGate   func()
}

// openStalledFsync opens the store, writes a Sync checkpoint and then an
// Async one, and returns once that one's group's fsync is in flight.
// holdCommits holds the Sync write's bbolt commit until openGate, so that
// it is still to apply when the caller sets failCommit.
func openStalledFsync(t *testing.T, holdCommits bool) *stalledFsync {
	t.Helper()
	sf := &stalledFsync{}
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	sf.release = func() { once.Do(func() { close(release) }) }
	t.Cleanup(sf.release)
	var gate atomic.Pointer[chan struct{}]
	var gateOnce sync.Once
	sf.openGate = func() {
		gateOnce.Do(func() {
			if g := gate.Load(); g != nil {
				close(*g)
			}
		})
	}
	t.Cleanup(sf.openGate)
	s, err := Open(filepath.Join(t.TempDir(), "s.ckpt"), Options{tuning: &tuning{hooks: engine.Hooks{
		SyncLog: func(f *os.File) error {
			if armed.CompareAndSwap(true, false) {
				close(entered)
				<-release
			}
			return engine.Fdatasync(f)
		},
		CommitBolt: func(tx *bolt.Tx) error {
			if g := gate.Load(); g != nil {
				<-*g
			}
			if sf.failCommit.Load() {
				_ = tx.Rollback()
				return errors.New("injected commit failure")
			}
			return tx.Commit()
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	sf.s = s
	bg := context.Background()
	if holdCommits {
		g := make(chan struct{})
		gate.Store(&g)
	}
	if _, err := s.Save(bg, "t", map[string]any{"v": 0}, nil); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if _, err := s.Save(WithWriteOptions(bg, WriteOptions{Durability: Async}), "t", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	<-entered
	return sf
}

// leavesWithItsContext runs call with a 200 ms ctx and fails t unless it
// returns context.DeadlineExceeded (within 10 s: then the fsync is
// released and the call awaited).
func leavesWithItsContext(t *testing.T, sf *stalledFsync, what string, call func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s = %v, want context.DeadlineExceeded", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%s still running 10 s after its 200 ms ctx ended (the log's fsync held)", what)
		sf.release()
		<-done
	}
}
