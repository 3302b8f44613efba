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
// fsync failing at Close. durableUpTo says of a failed syncer that
// "bbolt's own [fsync] is all that can keep what was acknowledged (NoSync
// groups) when Close applies it" and lets bbolt take them; but once the
// syncer is closed (Close), durableUpTo fsyncs itself and a failure there
// keeps bbolt from taking them: they stay only in a log whose fsync just
// failed (its pages may be gone at the next power cut).
func TestH33RevCloseAppliesNoSyncGroupsWhenTheLogFsyncFails(t *testing.T) {
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
	t.Logf("Close: %v", cerr)
	// What bbolt alone holds (the log's fsync failed: its pages may be lost).
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Minute, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []byte
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("x")); b != nil {
			got = b.Get([]byte("k"))
		}
		return nil
	})
	if got == nil {
		t.Fatal("the NoSync write acknowledged before Close is not in bbolt: Close's log fsync failed and bbolt was not let take it, " +
			"while a syncer failure before Close lets bbolt take the same groups (durableUpTo's res.err case)")
	}
}
