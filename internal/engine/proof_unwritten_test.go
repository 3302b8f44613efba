package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A proof that cannot be written (commit.go's vouch): the groups it was
// for are durable in the log, so they cannot be failed (a write that
// returned an error must never show up later), yet nothing after their
// record says they were durable: damaged on the medium later, that record
// would read as a torn tail, and Open would drop an acknowledged write
// with no error. So bbolt takes them before anyone hears back: from then
// on the store file holds them, whatever happens to the log.

// proofFailsAfterB writes a, then b (Sync), with the log's handle swapped
// by swap once b's fsync ended (the commit loop is in that fsync's wait),
// so that the proof after b cannot be written. b's acknowledgement must
// leave a proof after its record or bbolt holding it, bbolt taking it
// before b hears back (b's Done is empty when the first bbolt commit
// after the swap runs); and a crash copy with b's record damaged must be
// refused or read b.
func proofFailsAfterB(t *testing.T, swap func(t *testing.T, e *Engine, path string) (restore func())) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var armed, swapped, ackedFirst atomic.Bool
	committed := make(chan struct{})
	var restore func()
	var e *Engine
	b := &Op{Ctx: context.Background(), Done: make(chan error, 1),
		Apply: func(w Writer) error { return w.Put(testBucket, []byte("b"), []byte("v-b")) }}
	e, opts := vouchOpen(t, path, Hooks{HoldApplier: true, SyncLog: func(f *os.File) error {
		err := Fdatasync(f)
		if armed.CompareAndSwap(true, false) {
			restore = swap(t, e, path)
			swapped.Store(true)
		}
		return err
	}, CommitBolt: func(tx *bolt.Tx) error {
		if swapped.CompareAndSwap(true, false) {
			ackedFirst.Store(len(b.Done) > 0)
			defer close(committed)
		}
		return tx.Commit()
	}})
	defer func() {
		if restore != nil {
			restore()
		}
		_ = e.Close()
	}()
	put := func(k string) error {
		return do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }})
	}
	if err := put("a"); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if err := e.Send(b.Ctx, b); err != nil {
		t.Fatal(err)
	}
	select { // b's Done is read once bbolt's commit ran (or never will)
	case <-committed:
	case <-time.After(10 * time.Second):
	}
	if err := <-b.Done; err != nil {
		t.Fatalf("b, durable before its proof failed: %v, want it acknowledged", err)
	}
	if ackedFirst.Load() {
		t.Error("b was acknowledged before bbolt's commit of it")
	}
	r := lastDataRecord(t, path+"-wal")
	recs := logRecords(t, path+"-wal")
	if last := recs[len(recs)-1]; !last.proof && e.wal.ap.Applied() < r.gen {
		t.Errorf("b acknowledged as durable with nothing that keeps it: its record (group %d) is the log's last, and bbolt holds up to group %d",
			r.gen, e.wal.ap.Applied())
	}
	cp := crashCopyFiles(t, path, filepath.Join(dir, "img"), func(suffix string, data []byte) {
		if suffix == "-wal" {
			data[r.off+recHeader] ^= 0x01 // b's record damaged on the medium
		}
	})
	o := opts
	o.LogPath, o.Hooks = cp+"-wal", Hooks{}
	d, err := Open(cp, o)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open of the copy with b's record damaged = %v, want ErrCorrupt or b", err)
		}
		return
	}
	defer d.Close()
	if got := readKey(t, d, "b"); got != "v-b" {
		t.Fatalf("b (acknowledged durable) damaged in the log: Open succeeded and b reads %q, want %q", got, "v-b")
	}
}

// TestAProofThatFailsIsBackedByBbolt: the proof's write fails (the log's
// handle made read-only: an I/O error). The store fails (FailLog) and b,
// durable, is acknowledged. Before the fifteenth session b's record was
// then the log's last with nothing after it, and bbolt did not hold it:
// damage to it lost b with no error.
func TestAProofThatFailsIsBackedByBbolt(t *testing.T) {
	t.Parallel()
	proofFailsAfterB(t, func(t *testing.T, e *Engine, path string) func() {
		return swapLogHandle(t, e, path+"-wal", os.O_RDONLY)
	})
}

// TestAProofWithNoRoomIsBackedByBbolt: the log's writes find no room
// after b's fsync (its handle swapped for /dev/full's, as a copy-on-write
// file system that takes new room to overwrite the reserved zeros does
// when full). The proof fails with ErrDiskFull, which fails nothing; b
// is acknowledged. Before the fifteenth session damage to b's record then
// lost it with no error.
func TestAProofWithNoRoomIsBackedByBbolt(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip(err)
	}
	proofFailsAfterB(t, func(t *testing.T, e *Engine, _ string) func() {
		return swapLogHandle(t, e, "/dev/full", os.O_WRONLY)
	})
}

// swapLogHandle puts the file at name (opened with flag) in place of the
// log's own handle, so that the log's next writes fail as that file's do
// (read-only: an I/O error; /dev/full: no room); restore puts the log's
// handle back. Call it where the commit loop waits (an fsync's hook).
func swapLogHandle(t *testing.T, e *Engine, name string, flag int) (restore func()) {
	f, err := os.OpenFile(name, flag, 0)
	if err != nil {
		t.Error(err)
		return nil
	}
	own := e.wal.log.swapFile(f)
	return func() { _ = e.wal.log.swapFile(own); _ = f.Close() }
}
