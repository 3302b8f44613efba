package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestBoltBeginLocksAreReachable: releaseBeginLocks finds bbolt's meta and
// map locks. A bbolt that renames or retypes them fails here, before a
// fault can leave them held in production.
func TestBoltBeginLocksAreReachable(t *testing.T) {
	if !canReleaseBeginLocks {
		t.Fatal("bbolt's DB.metalock (sync.Mutex) or DB.mmaplock (sync.RWMutex) is gone: a fault in Begin leaves them held (failstop.go)")
	}
	// The module requires the bbolt whose beginTx was reviewed: an upgrade
	// must read it again (a bbolt that releases the locks itself would
	// make releaseBeginLocks a fatal second Unlock) and move
	// reviewedBoltVersion.
	mod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "go.etcd.io/bbolt " + reviewedBoltVersion + "\n"; !strings.Contains(string(mod), want) {
		t.Fatalf("go.mod does not require %q: review DB.beginTx for releaseBeginLocks, then move reviewedBoltVersion", want)
	}
	// A program linked with another bbolt (or a replaced one) releases
	// nothing; an unrecorded version (test binaries) is go.mod's.
	for _, v := range []string{"v1.5.1", "v1.4.0", "example.com/fork@v1.5.0"} {
		if findBeginLocks(v) {
			t.Errorf("findBeginLocks(%q) = true, want false", v)
		}
	}
	if !findBeginLocks("") || !findBeginLocks(reviewedBoltVersion) {
		t.Error("findBeginLocks refuses the reviewed version")
	}
}

// TestBeginFaultGivesBackBboltsLocks: the file cut short under an open
// handle, a read transaction open across the cut. The Begin that faults
// on the meta page makes the handle stuck; then each goroutine that got
// past the stuck check before the fault was recorded must still return:
// the open transaction's Rollback (bbolt's meta lock), another Begin
// (meta lock, then map lock) and bbolt's own Close (all of them), once
// the transactions still open end through EndRead. Seen failing without
// releaseBeginLocks (the Rollback waited forever) and with an EndRead
// that leaves a stuck handle's transactions open (bbolt's Close waited
// forever).
func TestBeginFaultGivesBackBboltsLocks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cut.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("b"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	open, err := BeginRead(db)
	if err != nil {
		t.Fatal(err)
	}
	later, err := BeginRead(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := BeginRead(db); !errors.Is(err, errBeginFault) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("BeginRead on a file cut to 0 bytes = %v, want a fault in Begin", err)
	}
	if _, err := BeginRead(db); !errors.Is(err, errStuck) {
		t.Fatalf("BeginRead after the fault = %v, want the handle stuck", err)
	}
	within := func(what string, fn func()) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			defer close(done)
			fn()
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s after a fault in Begin did not return in 10 s", what)
		}
	}
	within("a Rollback that raced the fault", func() {
		if err := open.Rollback(); err != nil {
			t.Errorf("Rollback: %v", err)
		}
	})
	within("a Begin that raced the fault", func() {
		if tx, err := beginBolt(db); !errors.Is(err, errBeginFault) {
			t.Errorf("Begin past the stuck check = %v, %v; want a fault in Begin", tx, err)
		}
	})
	// Ended after the handle is stuck: EndRead still rolls back, or
	// bbolt's Close (the background one of AbandonBolt) waits for ever
	// for its map lock.
	within("EndRead on the stuck handle", func() { EndRead(later) })
	within("bbolt's Close", func() { _ = db.Close() })
}
