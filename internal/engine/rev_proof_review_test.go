package engine

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestRevProofBoltFailDuringSyncAcksWithoutProof: bbolt fails a commit
// (the applier's) while a Sync group's fsync is in flight. The fsync ends
// well, so the group is acknowledged as durable (finishFlights), but
// vouch skips the proof on any failed store (e.fs.Failed()), though the
// log itself is sound. Close keeps the log (bbolt failed), and the
// group's record is its last with nothing after it: damaged on the
// medium, it reads as a torn tail and Open drops the acknowledged write
// with no error.
func TestRevProofBoltFailDuringSyncAcksWithoutProof(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var armed, holdSync atomic.Bool
	inCommit, release := make(chan struct{}), make(chan struct{})
	var e *Engine
	e, opts := vouchOpen(t, path, Hooks{
		CommitBolt: func(tx *bolt.Tx) error {
			if !armed.Load() {
				return tx.Commit()
			}
			close(inCommit)
			<-release
			_ = tx.Rollback()
			return errors.New("injected: bbolt commit failed")
		},
		SyncLog: func(f *os.File) error {
			err := Fdatasync(f)
			if holdSync.CompareAndSwap(true, false) {
				// bbolt fails while this fsync (of the Sync group b) runs.
				close(release)
				for e.fs.Failed() == nil {
					time.Sleep(time.Millisecond)
				}
			}
			return err
		},
	})
	defer e.Close()
	put := func(k string) error {
		return do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }})
	}
	armed.Store(true)
	if err := put("a"); err != nil {
		t.Fatal(err)
	}
	<-inCommit // the applier is in bbolt's commit of a
	holdSync.Store(true)
	if err := put("b"); err != nil {
		t.Skipf("b failed (%v): acknowledged as failed, nothing to prove", err)
	}
	if e.fs.Failed() == nil {
		t.Fatal("the store did not fail")
	}
	checkLastProven(t, path, filepath.Join(dir, "img"), opts, "b")
}

// TestRevProofFailedFsyncErasesTheVoucher: a Sync group a is
// acknowledged without a proof because the next group's record (b, a Sync
// op that joined the open group during a's fsync, sealed first in synced)
// says a was durable. b's fsync then fails: synced erases b's record
// (Erase from the first flight), and with it the only record that said a
// was durable. a's record is now the log's last with nothing after it: a
// process killed before Close (bbolt does not hold a) leaves a log in
// which damage to a's record reads as a torn tail, and Open drops the
// acknowledged write with no error.
func TestRevProofFailedFsyncErasesTheVoucher(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var block, fail atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	e, opts := vouchOpen(t, path, Hooks{HoldApplier: true, SyncLog: func(f *os.File) error {
		if fail.Load() {
			return errors.New("injected: fsync failed")
		}
		if block.CompareAndSwap(true, false) {
			close(entered)
			<-release
		}
		return Fdatasync(f)
	}})
	defer e.Close()
	write := func(k string) *Op {
		return &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte("v-"+k)) }}
	}
	if err := do(e, write("w")); err != nil { // grows the log: no fsync of the loop's below
		t.Fatal(err)
	}
	block.Store(true)
	aDone, bDone := make(chan error, 1), make(chan error, 1)
	go func() { aDone <- do(e, write("a")) }()
	<-entered // a's fsync runs
	go func() { bDone <- do(e, write("b")) }()
	for len(e.queue) > 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // b joins the open group
	fail.Store(true)
	close(release)
	if err := <-aDone; err != nil {
		t.Fatalf("a: %v", err)
	}
	if err := <-bDone; err == nil {
		t.Skip("b was not in the open group behind a's fsync")
	}
	checkLastProven(t, path, filepath.Join(dir, "img"), opts, "a")
}

// checkLastProven checks the log of the store at path after the write of
// key (value "v-"+key) was acknowledged as durable and nothing after it:
// its last record is a proof, and a copy with a byte of the last record
// holding changes flipped (into dir) is refused or reads key back.
func checkLastProven(t *testing.T, path, dir string, opts Options, key string) {
	t.Helper()
	recs := logRecords(t, path+"-wal")
	if last := recs[len(recs)-1]; !last.proof {
		t.Errorf("%s acknowledged as durable, but the log's last record (group %d) has nothing after it that says it was durable", key, last.gen)
	}
	r := lastDataRecord(t, path+"-wal")
	d := openDamagedLog(t, path, dir, opts, func(log []byte) { log[r.off+recHeader] ^= 0x01 })
	if d == nil {
		return
	}
	defer d.Close()
	if got := readKey(t, d, key); got != "v-"+key {
		t.Fatalf("%s (acknowledged durable) damaged in the log: Open succeeded and %s reads %q, want %q", key, key, got, "v-"+key)
	}
}
