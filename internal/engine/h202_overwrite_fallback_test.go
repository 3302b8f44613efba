package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestOverwriteLookFallbackWhileRemapWaits forces the look's fallback
// (readAt's pread of the file) where it happens in a store: a commit that
// grows the file past bbolt's map waits in its remap for a read
// transaction held open, bbolt's map lock has a writer queued, so
// TryRLock fails and the syncer's look reads the meta pages and marks
// from the file while that commit is in flight. It must find the store's
// own bytes there, then and after the commit (through the map again), at
// page sizes 1 to 64 KiB, with the marks on overflow pages too.
func TestOverwriteLookFallbackWhileRemapWaits(t *testing.T) {
	if mmapOffset == ^uintptr(0) {
		t.Skip("bbolt's map lock not found: the look reads the file always")
	}
	for round, ps := range []int{1024, 4096, 16384, 65536} {
		rng := rand.New(rand.NewPCG(202, uint64(round)))
		path := filepath.Join(t.TempDir(), "s.db")
		db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: ps, InitialMmapSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var w fileWatch
		w.reset(db, f)
		put := func(n int, exact bool) error {
			tx, err := db.Begin(true)
			if err != nil {
				return err
			}
			for b := range 3 {
				bk, err := tx.CreateBucketIfNotExists(fmt.Appendf(nil, "b%d", b))
				if err != nil {
					return err
				}
				if !exact {
					n = 1 + rng.IntN(n)
				}
				v := bytes.Repeat([]byte{byte(rng.IntN(256))}, n)
				if err := bk.Put(fmt.Appendf(nil, "k%08d", rng.IntN(1<<20)), v); err != nil {
					return err
				}
			}
			return w.commit(tx, (*bolt.Tx).Commit)
		}
		for range 5 {
			if err := put(2*ps, false); err != nil {
				t.Fatalf("page %d: commit: %v", ps, err)
			}
		}
		if r := w.rec.Load(); r == nil || r.bad || len(r.marks) == 0 {
			t.Fatalf("page %d: no record with marks: %+v", ps, r)
		}
		for cycle := range 2 {
			rtx, err := db.Begin(false) // holds the map lock shared
			if err != nil {
				t.Fatal(err)
			}
			// bbolt maps a power of two at least the file's size: values
			// twice that are past the map, and the commit remaps.
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			big := 64 << 10
			for int64(big) < fi.Size() {
				big *= 2
			}
			done := make(chan error, 1)
			go func() { done <- put(2*big, true) }()
			// Wait until the commit is queued on the map lock: TryRLock
			// then fails, as it does for the syncer's look.
			mu := mmapLock(db)
			for mu.TryRLock() {
				mu.RUnlock()
				select {
				case err := <-done:
					t.Fatalf("page %d cycle %d: the commit ended without a remap (%v)", ps, cycle, err)
				default:
				}
			}
			for i := range 50 {
				if err := w.check(); err != nil {
					t.Fatalf("page %d cycle %d: look %d while the remap waits: %v", ps, cycle, i, err)
				}
			}
			if err := rtx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("page %d cycle %d: commit: %v", ps, cycle, err)
			}
			if err := w.check(); err != nil {
				t.Fatalf("page %d cycle %d: look after the remap: %v", ps, cycle, err)
			}
			if err := put(ps, false); err != nil {
				t.Fatalf("page %d cycle %d: commit after: %v", ps, cycle, err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
