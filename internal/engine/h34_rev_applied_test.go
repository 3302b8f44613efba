package engine

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestH34RevDamagedFirstRecordBboltHoldsDropsAnAcknowledgedSyncWrite: the
// scan's vouch threshold is want = max(prev, applied) + 1, not the bad
// record's own group. When the bad record is the log's first (prev 0) and
// bbolt already holds it (applied >= its group), the records after it are
// asked to say group applied+1 was durable, which the last record, a Sync
// group written with lag 1 (durable = applied), never says of itself: the
// scan drops it as a power cut's, prev 0 skips the "valid records end
// below bbolt's mark" check, and Open succeeds without a Sync write that
// returned nil. The damaged record is not the log's last.
//
// Sequence: Sync a (group 1, the log's first record); the applier takes
// group 1 and its commit is held; Sync b (group 2, durable 1, lag 1) is
// acknowledged; the applier's commit of group 1 goes through (mark 1) and
// its next commit (group 2) is held; no rewind (group 2 is logged). Crash
// copy with group 1's record damaged: applied 1, prev 0, want 2, record 2
// says durable 1 < 2: "a power cut's".
func TestH34RevDamagedFirstRecordBboltHoldsDropsAnAcknowledgedSyncWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var commits atomic.Int32
	release1 := make(chan struct{})
	release2 := make(chan struct{})
	entered2 := make(chan struct{})
	entered1 := make(chan struct{})
	hooks := Hooks{CommitBolt: func(tx *bolt.Tx) error {
		switch commits.Add(1) {
		case 1:
			close(entered1)
			<-release1
		case 2:
			close(entered2)
			<-release2
		}
		return tx.Commit()
	}}
	e, opts := vouchOpen(t, path, hooks)
	defer func() {
		select {
		case <-release2:
		default:
			close(release2)
		}
		e.Close()
	}()
	putKV := func(k string) {
		t.Helper()
		if err := do(e, &Op{Apply: func(w Writer) error {
			return w.Put(testBucket, []byte(k), []byte("value of "+k))
		}}); err != nil {
			t.Fatal(err)
		}
	}
	putKV("a")
	select {
	case <-entered1: // the applier commits group 1 (held)
	case <-time.After(10 * time.Second):
		t.Fatal("the applier never committed group 1")
	}
	putKV("b") // acknowledged: a Sync write that returned nil
	close(release1)
	select {
	case <-entered2: // mark 1 committed; group 2's commit held
	case <-time.After(10 * time.Second):
		t.Fatal("the applier never committed group 2")
	}
	if a := e.Applied(); a != 1 {
		t.Fatalf("applied %d, want 1", a)
	}
	recs := dataRecords(t, path+"-wal")
	if len(recs) != 2 || recs[0].gen != 1 || recs[1].gen != 2 {
		t.Fatalf("log records %+v, want groups 1 and 2", recs)
	}
	t.Logf("record 2: durable %d (lag %d)", recs[1].durable, recs[1].gen-recs[1].durable)
	d := openDamagedLog(t, path, filepath.Join(dir, "img"), opts, zeroBody(recs[0]))
	if d == nil {
		return
	}
	defer d.Close()
	if got := readKey(t, d, "b"); got == "" {
		t.Fatal("group 1's record (held by bbolt, not the log's last) damaged: Open succeeded without b, a Sync write acknowledged")
	}
}

// TestDamagedFirstRecordBboltHoldsIsNoPowerCut: the log's first record,
// group 1, which bbolt holds (applied 1), damaged; after it only a NoSync
// group 2 written once group 1 was durable (lag 1), with no proof after
// it yet (its fsync, the applier's, is held). bbolt took group 1 only once
// it was durable in the log, so its record was whole: damage, never a
// power cut's (wal.go's scan, prev 0 and group applied+1 after it). Open
// refuses the copy, or reads b: dropping both as a power cut's would lose
// b to damage, not to a power cut. With proofs, only this case still
// needs the rule (a Sync b has its proof, which says enough).
func TestDamagedFirstRecordBboltHoldsIsNoPowerCut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var commits atomic.Int32
	release1, entered1 := make(chan struct{}), make(chan struct{})
	var holdSync atomic.Bool
	syncHeld, releaseSync := make(chan struct{}), make(chan struct{})
	hooks := Hooks{
		CommitBolt: func(tx *bolt.Tx) error {
			if commits.Add(1) == 1 {
				close(entered1)
				<-release1
			}
			return tx.Commit()
		},
		SyncLog: func(f *os.File) error {
			if holdSync.CompareAndSwap(true, false) {
				close(syncHeld)
				<-releaseSync
			}
			return Fdatasync(f)
		},
	}
	e, opts := vouchOpen(t, path, hooks)
	defer func() {
		close(releaseSync)
		e.Close()
	}()
	if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("a"), []byte("value of a")) }}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered1: // the applier commits group 1 (held)
	case <-time.After(10 * time.Second):
		t.Fatal("the applier never committed group 1")
	}
	if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte("b"), []byte("value of b")) }}); err != nil {
		t.Fatal(err)
	}
	holdSync.Store(true)
	close(release1) // mark 1; then the applier fsyncs the log for group 2 (held)
	select {
	case <-syncHeld:
	case <-time.After(10 * time.Second):
		t.Fatal("the applier never asked for group 2's fsync")
	}
	if a := e.Applied(); a != 1 {
		t.Fatalf("applied %d, want 1", a)
	}
	recs := oneProofEach(logRecords(t, path+"-wal"))
	if len(recs) != 3 || recs[0].gen != 1 || !recs[1].proof || recs[2].gen != 2 || recs[2].durable != 1 {
		t.Fatalf("log records %+v, want group 1, its proof, group 2 (durable 1)", recs)
	}
	d := openDamagedLog(t, path, filepath.Join(dir, "img"), opts, zeroBody(recs[0]))
	if d == nil {
		return
	}
	defer d.Close()
	if got := readKey(t, d, "b"); got == "" {
		t.Fatal("group 1's record (held by bbolt) damaged: Open succeeded without b, dropped as a power cut's")
	}
}
