package engine

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestH208ReplayOfAKeptLogAfterAFailedFsyncSurvivesAPowerCut: a NoSync
// write's record stays in the log after the log's fsync failed (Close
// keeps it), readable from the page cache but never durable: Linux marks
// the pages clean after the failed writeback and reports the error once,
// so the next Open's fsync of the log (a new descriptor) succeeds without
// writing them. That Open's replay must not leave bbolt's mark past the
// log's durable end: a power cut before its new log is durable would
// leave a pair Open refuses as damage, every acknowledged Sync write in
// it. The test models the disk: the log's durable bytes are its bytes at
// its last fsync that wrote anything; after the failure, one writes only
// if a write came since (the log's mtime, set to the epoch after the
// failure, moved; coarse: then the whole file is durable).
func TestH208ReplayOfAKeptLogAfterAFailedFsyncSurvivesAPowerCut(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	logPath := path + "-wal"
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	cause := errors.New("disk on fire")
	epoch := time.Unix(0, 0)

	var mu sync.Mutex
	var durable []byte // the log's bytes on disk
	var armed, failed atomic.Bool
	opts := Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: logPath, Mark: mark,
		Observer: nopObserver{}, Hooks: Hooks{HoldApplier: true, SyncLog: func(f *os.File) error {
			if armed.Load() {
				failed.Store(true)
				return cause
			}
			if err := Fdatasync(f); err != nil {
				return err
			}
			if fi, err := f.Stat(); !failed.Load() || err == nil && !fi.ModTime().Equal(epoch) {
				b, err := os.ReadFile(logPath)
				if err != nil {
					return err
				}
				mu.Lock()
				durable = b
				mu.Unlock()
			}
			return nil
		}}}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("a"), []byte("sync")) }}); err != nil {
		t.Fatal(err)
	}
	if err := do(e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte("b"), []byte("nosync")) }}); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	if err := e.Close(); !errors.Is(err, cause) {
		t.Fatalf("Close: %v, want the log's failed fsync", err)
	}
	armed.Store(false)
	if err := os.Chtimes(logPath, epoch, epoch); err != nil {
		t.Fatal(err)
	}

	// The restart: the power goes once its replay is in bbolt, before its
	// new log is durable (CreatedLog: bbolt's replay commit is the file's
	// last; the disk holds the old log's durable bytes, the new log's
	// truncation not yet durable).
	crash := filepath.Join(t.TempDir(), "c.db")
	var cut atomic.Bool
	opts2 := opts
	opts2.Hooks.CreatedLog = func() {
		cut.Store(true)
		db, err := os.ReadFile(path)
		if err != nil {
			t.Error(err)
		}
		mu.Lock()
		lg := durable
		mu.Unlock()
		if err := errors.Join(os.WriteFile(crash, db, 0o600), os.WriteFile(crash+"-wal", lg, 0o600)); err != nil {
			t.Error(err)
		}
	}
	e2, err := Open(path, opts2)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if got := getKey(t, e2, "b"); string(got) != "nosync" {
		t.Fatalf("the NoSync write is gone after a restart: %q", got)
	}
	if err := e2.Close(); err != nil {
		t.Fatal(err)
	}
	if !cut.Load() {
		t.Fatal("the reopen created no log")
	}
	opts3 := opts
	opts3.LogPath = crash + "-wal"
	opts3.Hooks.SyncLog = nil
	e3, err := Open(crash, opts3)
	if err != nil {
		t.Fatalf("open after a power cut in the restart's Open: %v", err)
	}
	defer e3.Close()
	if got := getKey(t, e3, "a"); string(got) != "sync" {
		t.Fatalf("the Sync write is gone after the power cut: %q", got)
	}
}
