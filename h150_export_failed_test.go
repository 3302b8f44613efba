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

// An Async write queued before Export is in the dump (Export waits for
// the writes queued before it), also when the store failed meanwhile and
// the write's group, in flight then, still became durable (the applier's
// bbolt commit failed; the log's fsync of the group did not): the write
// is acknowledged, durable and read after a reopen, so a dump that
// returned nil must hold it. Export is what one runs to get the data out
// of a failed store.
func TestH150ExportOnFailedStoreWaitsForQueuedWrites(t *testing.T) {
	var failCommit, gateArmed, sendArmed, holdCommits atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	releaseFsync := func() { releaseOnce.Do(func() { close(release) }) }
	commitGate := make(chan struct{})
	var gateOnce sync.Once
	openCommits := func() { gateOnce.Do(func() { close(commitGate) }) }
	t.Cleanup(openCommits)
	path := filepath.Join(t.TempDir(), "s.ckpt")
	s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{
		// The first op Export sends on the failed store is its wait for
		// the groups in flight (Settle): the fsync may go on from there.
		BeforeSend: func() {
			if sendArmed.CompareAndSwap(true, false) {
				releaseFsync()
			}
		},
		SyncLog: func(f *os.File) error {
			if gateArmed.CompareAndSwap(true, false) {
				close(entered)
				<-release
			}
			return engine.Fdatasync(f)
		},
		CommitBolt: func(tx *bolt.Tx) error {
			if holdCommits.Load() {
				<-commitGate
			}
			if failCommit.Load() {
				_ = tx.Rollback()
				return errors.New("commit on fire")
			}
			return tx.Commit()
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// The applier's bbolt commits wait from here until failCommit is set,
	// so that the first group is still to apply then and its commit fails
	// the store. Not held, the applier could commit it first, leaving
	// nothing to apply (the Async write's group is not durable: its fsync
	// is held), and the ApplyNow loop below spun until the binary's
	// timeout (shown with a 2 s sleep after this Save).
	holdCommits.Store(true)
	if _, err := s.Save(ctx, "t", map[string]any{"v": 0}, nil); err != nil {
		t.Fatal(err)
	}
	// The Async write's group waits for its fsync, held.
	gateArmed.Store(true)
	id, err := s.Save(WithWriteOptions(ctx, WriteOptions{Durability: Async}), "t", map[string]any{"v": 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	// Meanwhile the store fails: the applier's commit of the first group.
	failCommit.Store(true)
	openCommits()
	s.eng.ApplyNow()
	for s.eng.Failed() == nil {
		s.eng.ApplyNow()
	}
	exported := make(chan error, 1)
	var dump bytes.Buffer
	sendArmed.Store(true)
	go func() {
		_, err := s.Export(ctx, &dump, ExportOptions{})
		exported <- err
	}()
	// A buggy Export returns at once, without the write and sending
	// nothing; one that waits for it sends its wait, which releases the
	// fsync (a guard releases it after a minute, if nothing did).
	var eerr error
	select {
	case eerr = <-exported:
		releaseFsync()
	case <-time.After(time.Minute):
		releaseFsync()
		eerr = <-exported
	}
	// Close waits for the group in flight; a reopen reads what is durable.
	cerr := s.Close()
	t.Logf("Export: %v; Close: %v", eerr, cerr)
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: id}); err != nil {
		t.Skipf("the Async write is not durable (%v): nothing for the dump to hold", err)
	}
	if eerr != nil {
		return // an Export that says it failed vouches for nothing
	}
	d, err := Open(filepath.Join(t.TempDir(), "d.ckpt"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Import(ctx, bytes.NewReader(dump.Bytes()), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetTuple(ctx, Config{ThreadID: "t", CheckpointID: id}); err != nil {
		t.Errorf("Export returned nil without the Async write queued before it, acknowledged and durable: %v", err)
	}
}
