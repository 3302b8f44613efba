package ckpt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestAsyncQueueIsBoundedInBytes: Async writes queued behind a commit
// that does not end hold at most Options.MaxPendingBytes of records; the
// writer past it waits, as for a place in the queue, and its ctx ends the
// wait with ctx.Err(), the write never stored. The queue was bounded by
// count alone (MaxPending, 1,024): 1,024 writes of 10 MB held 10 GB.
// Counted in bytes held (engine.PendingBytes), not time: the commit loop is
// held in its commit, and the writer is looked at once it waits.
func TestAsyncQueueIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	const bound, size, writes = 1 << 20, 100 << 10, 40
	var holding atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	full := make(chan struct{}, 1)
	hooks := engine.Hooks{
		CommitBolt: func(tx *bolt.Tx) error {
			if holding.CompareAndSwap(true, false) {
				close(entered)
				<-release
			}
			return tx.Commit()
		},
		PendingFull: func() {
			select {
			case full <- struct{}{}:
			default:
			}
		},
	}
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "bytes.db"), Options{NoWAL: true, Durability: Async, MaxPendingBytes: bound, tuning: &tuning{hooks: hooks}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := func(i int) map[string]any {
		v := make([]byte, size)
		v[0] = byte(i)
		return map[string]any{"v": v}
	}
	holding.Store(true)
	if _, err := s.Save(ctx, "first", value(0), nil); err != nil {
		t.Fatal(err)
	}
	<-entered // the commit loop is held committing "first"

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var returned atomic.Int64
	werr := make(chan error, 1)
	go func() {
		for i := range writes {
			if _, err := s.Save(wctx, fmt.Sprintf("t%d", i), value(i), nil); err != nil {
				werr <- err
				return
			}
			returned.Add(1)
		}
		werr <- nil
	}()
	select {
	case <-full: // the writer waits for room
	case err := <-werr:
		close(release)
		t.Fatalf("%d Async writes of %d KB were queued behind a held commit without a wait (%v): %d KB held, MaxPendingBytes %d KB",
			returned.Load(), size>>10, err, returned.Load()*size>>10, bound>>10)
	}
	n := returned.Load() // the writer waits: no more return
	held := s.eng.PendingBytes()
	if held > bound || held < bound-2*size || n < bound/size-2 {
		close(release)
		t.Fatalf("with the commit loop held, %d writes of %d KB queued and the next waits: %d KB held, want at most and near %d KB", n, size>>10, held>>10, bound>>10)
	}
	cancel()
	if err := <-werr; !errors.Is(err, context.Canceled) {
		close(release)
		t.Fatalf("the write waiting for room, its ctx cancelled: %v, want context.Canceled", err)
	}
	close(release)
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range writes {
		_, err := s.Latest(ctx, fmt.Sprintf("t%d", i))
		switch {
		case i < int(n) && err != nil:
			t.Fatalf("write %d, acknowledged: %v", i, err)
		case i >= int(n) && !errors.Is(err, ErrNotFound):
			t.Fatalf("write %d, cancelled or never made: Latest: %v, want ErrNotFound", i, err)
		}
	}
	// A write larger than the bound goes through, alone.
	big := make([]byte, 3*bound)
	if _, err := s.Save(ctx, "big", map[string]any{"v": big}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The commit loop gives a group's bytes back once its commit returns,
	// which may be after the Flush in the same group was answered (by the
	// syncer, at the log's fsync): wait for it, bounded as a hang is.
	for deadline := time.Now().Add(2 * time.Minute); s.eng.PendingBytes() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("two minutes after Flush, %d bytes still counted as pending", s.eng.PendingBytes())
		}
	}
}
