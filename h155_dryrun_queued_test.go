package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// A GC dry run reports what a GC would remove now, after the writes its
// caller queued before it, as a GC does (retention waits for the Async
// writes queued before it: TestH118RetentionAfterAsyncWrites). It planned
// at once, on a snapshot without the Async writes still waiting for their
// log fsync, and reported nothing to remove where the GC right after it
// removed two checkpoints (helper-155's review). Here the fsync of the
// Async writes' group is held until the dry run sends its wait for them;
// a dry run that sends nothing runs on the snapshot without them.
func TestGCDryRunSeesTheAsyncWritesQueuedBeforeIt(t *testing.T) {
	ctx := context.Background()
	var fsyncArmed, sendArmed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	releaseFsync := func() { once.Do(func() { close(release) }) }
	defer releaseFsync()
	s, err := Open(filepath.Join(t.TempDir(), "s.ckpt"), Options{Durability: Async, tuning: &tuning{hooks: engine.Hooks{
		SyncLog: func(f *os.File) error {
			if fsyncArmed.CompareAndSwap(true, false) {
				close(entered)
				<-release
			}
			return engine.Fdatasync(f)
		},
		BeforeSend: func() {
			if sendArmed.CompareAndSwap(true, false) {
				releaseFsync()
			}
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fsyncArmed.Store(true)
	for j := range 3 {
		if _, err := s.Save(ctx, "t", map[string]any{"j": j}, nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-entered:
	case <-time.After(time.Minute):
		t.Fatal("the Async writes' fsync never began")
	}
	sendArmed.Store(true)
	st, err := s.GC(ctx, Policy{KeepLast: 1, DryRun: true})
	releaseFsync()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	real, err := s.GC(ctx, Policy{KeepLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Checkpoints != real.Checkpoints || real.Checkpoints == 0 {
		t.Errorf("GC dry run would remove %d checkpoints, the GC after it removed %d", st.Checkpoints, real.Checkpoints)
	}
}
