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

// h33 review: NoSync writes acknowledged before Close, with the log's
// fsync failing at Close. The review had bbolt take them (its fsync the
// only one left), but bbolt's mark then names groups whose log records
// were never durable: a power cut that brings the log back (Close's
// removal is not fsync'd, and a failed store keeps its log) leaves the
// log's valid records below the mark, a pair Open refuses as damage with
// every Sync write in it (helper-203's powerfs hunt,
// TestPowerFaultLogFsyncAfterNoSync). So bbolt does not take groups the
// log's failed fsync should have covered: Close keeps the log, and the
// next Open replays them from it (a restart without a power cut loses no
// NoSync write; a power cut may, as NoSync allows).
func TestH33RevCloseKeepsNoSyncGroupsInTheLogWhenItsFsyncFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	var armed atomic.Bool
	cause := errors.New("disk on fire")
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal", Mark: mark,
		Observer: nopObserver{}, Hooks: Hooks{HoldApplier: true, SyncLog: func(f *os.File) error {
			if armed.Load() {
				return cause
			}
			return Fdatasync(f)
		}}}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte("k"), []byte("v")) }}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	cerr := e.Close()
	if !errors.Is(cerr, cause) {
		t.Fatalf("Close: %v, want the log's failed fsync", cerr)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("the log holding the NoSync write was not kept: %v", err)
	}
	armed.Store(false)
	e, err = Open(path, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer e.Close()
	if got := getKey(t, e, "k"); string(got) != "v" {
		t.Fatalf("the NoSync write acknowledged before Close is gone after a reopen: %q", got)
	}
}
