package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
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
	var armed, failCommit atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	s, err := Open(filepath.Join(t.TempDir(), "s.ckpt"), Options{tuning: &tuning{hooks: engine.Hooks{
		SyncLog: func(f *os.File) error {
			if armed.CompareAndSwap(true, false) {
				close(entered)
				<-release // a stalled disk
			}
			return engine.Fdatasync(f)
		},
		CommitBolt: func(tx *bolt.Tx) error {
			if failCommit.Load() {
				_ = tx.Rollback()
				return errors.New("injected commit failure")
			}
			return tx.Commit()
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	if _, err := s.Save(bg, "t", map[string]any{"v": 0}, nil); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if _, err := s.Save(WithWriteOptions(bg, WriteOptions{Durability: Async}), "t", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	<-entered // its group's fsync is in flight, and stays there
	failCommit.Store(true)
	for s.eng.Failed() == nil {
		s.eng.ApplyNow() // the applier's commit fails the store
	}
	ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := s.Export(ctx, &bytes.Buffer{}, ExportOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Export = %v, want context.DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Export still running 10 s after its 200 ms ctx ended (the log's fsync held)")
		close(release)
		released = true
		<-done
	}
	if !released {
		close(release)
		released = true
	}
	_ = s.Close() // the store failed: Close reports it
}

// The same on a store that did not fail: Export, GC and Prune first wait
// for the Async writes queued before them with a no-op write (seeQueued),
// which the loop takes into the group it builds while the log's fsync is
// in flight. Taken, it held its caller past its ctx until the disk came
// back, though it writes nothing (helper-154's review; so before h150 too).
func TestExportBehindAStalledFsyncLeavesWhenItsContextEnds(t *testing.T) {
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	s, err := Open(filepath.Join(t.TempDir(), "s.ckpt"), Options{tuning: &tuning{hooks: engine.Hooks{
		SyncLog: func(f *os.File) error {
			if armed.CompareAndSwap(true, false) {
				close(entered)
				<-release // a stalled disk
			}
			return engine.Fdatasync(f)
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	if _, err := s.Save(bg, "t", map[string]any{"v": 0}, nil); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if _, err := s.Save(WithWriteOptions(bg, WriteOptions{Durability: Async}), "t", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	<-entered // its group's fsync is in flight, and stays there
	for _, c := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Export", func(ctx context.Context) error {
			_, err := s.Export(ctx, &bytes.Buffer{}, ExportOptions{})
			return err
		}},
		{"GC", func(ctx context.Context) error {
			_, err := s.GC(ctx, Policy{KeepLast: 1})
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(bg, 200*time.Millisecond)
		done := make(chan error, 1)
		go func() { done <- c.call(ctx) }()
		select {
		case err := <-done:
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s = %v, want context.DeadlineExceeded", c.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s still running 10 s after its 200 ms ctx ended (the log's fsync held)", c.name)
			close(release)
			released = true
			<-done
		}
		cancel()
	}
	if !released {
		close(release)
		released = true
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := countThread(t, s.path, "t"); n != 2 {
		t.Errorf("thread t holds %d checkpoints, 2 acknowledged (GC gave up before it planned)", n)
	}
}
