package engine

import (
	"errors"
	"fmt"
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
// Open applies it"). No record after a or b said they were durable (a
// Flush would have had one written; Close wrote none), so damage to a's
// record on the medium later (not the log's last) read as a power cut's:
// Open succeeded and a, b and c were gone, writes Close said were kept,
// fsync'd. Close now appends a proof (vouchKeptLog): damage to any of the
// three records, c's (the last with changes) too, is refused.
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
	if all := oneProofEach(logRecords(t, path+"-wal")); len(all) != 4 || !all[3].proof {
		t.Fatalf("records %+v, want a, b, c and a proof", all)
	}
	for i, r := range dataRecords(t, path+"-wal") {
		damageKeptLog(t, path, filepath.Join(dir, fmt.Sprint("img", i)), opts, r)
	}
}

// damageKeptLog damages record r in a copy of the files and opens it:
// refused, or a, b and c read back.
func damageKeptLog(t *testing.T, path, dir string, opts Options, r logRecord) {
	t.Helper()
	d := openDamagedLog(t, path, dir, opts, zeroBody(r))
	if d == nil {
		return
	}
	defer d.Close()
	for _, k := range []string{"a", "b", "c"} {
		if readKey(t, d, k) == "" {
			t.Errorf("group %d's record damaged in the log Close kept: Open succeeded without %s", r.gen, k)
		}
	}
}
