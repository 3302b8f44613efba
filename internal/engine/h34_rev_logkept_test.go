package engine

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestH34RevLogKeptByCloseLosesNoSyncWritesToOneDamagedRecord: NoSync
// writes a, b and c (records with lags 1, 2 and 3: no fsync between), then
// Close on a full disk: it cannot apply them, fsyncs the log and keeps it
// (LogKeptError: "the write-ahead log is kept with every write; the next
// Open applies it"). No record after a or b says they were durable (a
// Flush would have written one, sealGroup's proof; Close writes none), so
// damage to a's record on the medium later (not the log's last) reads as
// a power cut's: Open succeeds and a, b and c are gone, writes Close said
// were kept, fsync'd.
func TestH34RevLogKeptByCloseLosesNoSyncWritesToOneDamagedRecord(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "v.db")
	var full atomic.Bool
	e, opts := vouchOpen(t, path, Hooks{HoldApplier: true, CommitBolt: func(tx *bolt.Tx) error {
		if full.Load() {
			_ = tx.Rollback()
			return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
		}
		return tx.Commit()
	}})
	for _, k := range []string{"a", "b", "c"} {
		if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error {
			return w.Put(testBucket, []byte(k), []byte("value of "+k))
		}}); err != nil {
			t.Fatal(err)
		}
	}
	full.Store(true)
	err := e.Close()
	var kept *LogKeptError
	if !errors.As(err, &kept) {
		t.Fatalf("Close = %v, want a LogKeptError", err)
	}
	recs := logRecords(t, path+"-wal")
	if len(recs) < 3 { // a, b, c (and, since the fix, a record with no changes after them)
		t.Fatalf("%d records, want 3 or more", len(recs))
	}
	for _, r := range recs {
		t.Logf("group %d: durable %d", r.gen, r.durable)
	}
	r := recs[0]
	cp := crashCopyFiles(t, path, filepath.Join(dir, "img"), func(suffix string, data []byte) {
		if suffix == "-wal" {
			clear(data[r.off+recHeader : r.off+recHeader+min(8, r.size-recHeader)])
		}
	})
	o := opts
	o.LogPath, o.Hooks = cp+"-wal", Hooks{}
	d, err := Open(cp, o)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v, want ErrCorrupt or every write", err)
		}
		return
	}
	defer d.Close()
	for _, k := range []string{"a", "b", "c"} {
		if readKey(t, d, k) == "" {
			t.Errorf("a's record (not the last) damaged in the log Close kept: Open succeeded without %s", k)
		}
	}
}
