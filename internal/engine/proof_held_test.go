package engine

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TestAProofThatFailsDuringAHoldDoesNotStopWriters: the file is held
// (Hold: the applier's lock, as a Backup's copy and Verify's page check
// take it, outside the commit loop) when a proof cannot be written (the
// log's handle swapped for /dev/full's once b's fsync ended, as a
// copy-on-write file system when full). docs/backup.md promises that writers
// do not wait for a backup's copy (only at its start, past 32 MiB logged,
// or for Compact/ApplyLog); and a Backup whose progress callback or writer
// saves to the store would wait for that Save forever if it did. b's
// acknowledgement must not wait for the hold to end.
func TestAProofThatFailsDuringAHoldDoesNotStopWriters(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var armed atomic.Bool
	var real, full atomic.Pointer[os.File]
	var e *Engine
	e, _ = vouchOpen(t, path, Hooks{HoldApplier: true, SyncLog: func(f *os.File) error {
		err := Fdatasync(f)
		if armed.CompareAndSwap(true, false) {
			fd, oerr := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if oerr != nil {
				t.Error(oerr)
				return err
			}
			full.Store(fd)
			real.Store(e.wal.log.swapFile(fd))
		}
		return err
	}})
	put := func(k string) error {
		return do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }})
	}
	if err := put("a"); err != nil {
		t.Fatal(err)
	}
	tx, _, release, err := e.Hold() // a backup's copy (or Verify's page check) begins
	if err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- put("b") }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("b: %v", err)
		}
		EndRead(tx)
		release()
	case <-time.After(10 * time.Second):
		t.Errorf("a Sync write whose proof could not be written still waits after 10 s for the hold (a backup's copy) to end: the commit loop is blocked in backByBolt -> applyAll -> Applier.Apply on the applier's lock; a writer inside the backup (its progress callback, its io.Writer) would wait forever")
		EndRead(tx)
		release()
		if err := <-done; err != nil {
			t.Errorf("b, after the hold: %v", err)
		}
	}
	if f := real.Load(); f != nil {
		_ = e.wal.log.swapFile(f)
	}
	if f := full.Load(); f != nil {
		_ = f.Close()
	}
	if err := e.Close(); err != nil {
		t.Error(err)
	}
}
