package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// TestStuckHandlesAreForgottenOnceClosed: a handle whose Begin faulted (the
// file cut short under the store) is kept in the set of stuck handles so
// that nothing begins on it again, and it stayed there for the life of
// the process: a service that opens, faults and closes a store again and
// again kept every handle (bbolt's DB, its freelist and page pool) and
// its entry. Once bbolt's Close of the handle returned, no transaction is
// open on it and none can begin (bbolt refuses a closed handle before it
// reads a page): it is forgotten then, and only then. The wait below only
// turns a handle never forgotten into a failure; a handle is forgotten as
// soon as the background Close that AbandonBolt started returns.
func TestStuckHandlesAreForgottenOnceClosed(t *testing.T) {
	t.Parallel()
	const cycles = 8
	var dbs []*bolt.DB
	for i := range cycles {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("cut%d.db", i))
		// NoWAL: no applier to write to the cut file meanwhile (a fault
		// in a write transaction keeps bbolt's write lock for good, and
		// its Close, rightly, never returns: that handle stays).
		e := openTestEngine(t, path, true)
		if err := do(e, put("k")); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		err := e.View(context.Background(), func(Reader) error { return nil })
		if !errors.Is(err, ErrCorrupt) || !isStuck(e.db) {
			t.Fatalf("cycle %d: a read of a file cut to 0 bytes = %v (stuck: %v), want a fault in Begin", i, err, isStuck(e.db))
		}
		dbs = append(dbs, e.db)
		_ = e.Close() // abandons the handle: bbolt's Close runs in the background
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, db := range dbs {
		for isStuck(db) {
			if time.Now().After(deadline) {
				n := 0
				for _, db := range dbs {
					if isStuck(db) {
						n++
					}
				}
				t.Fatalf("%d of %d handles whose Begin faulted are still kept as stuck after their store was closed (the first: cycle %d)", n, cycles, i)
			}
			time.Sleep(time.Millisecond)
		}
		if _, err := BeginRead(db); !errors.Is(err, berrors.ErrDatabaseNotOpen) {
			t.Fatalf("cycle %d: BeginRead on the closed handle, forgotten: %v, want bbolt's database not open", i, err)
		}
	}
}
