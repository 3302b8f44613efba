package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// lagMap makes every read through bbolt's map see other bytes than the
// file holds, as a map that lags the file's writes (FUSE, a network file
// system: a page the map still shows after the file's own bytes moved
// on), until the returned func puts the map back.
func lagMap(t *testing.T) (restore func()) {
	t.Helper()
	mappedRead = func(db *bolt.DB, spans []span, dst []byte) (ok, fault bool) {
		ok, fault = readMapped(db, spans, dst)
		for i := range dst {
			dst[i] ^= 0x5a
		}
		return ok, fault
	}
	restore = func() { mappedRead = readMapped }
	t.Cleanup(restore)
	return restore
}

// watched is a bbolt file with three buckets, watched as a store's
// (reset, then commits through the watch), and its file.
func watched(t *testing.T, commits int) (*bolt.DB, *fileWatch, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	w := &fileWatch{path: path}
	w.reset(db, f)
	for i := range commits {
		if err := putWatched(db, w, i); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	return db, w, path
}

// putWatched commits a key into each of three buckets through the watch.
func putWatched(db *bolt.DB, w *fileWatch, i int) error {
	tx, err := db.Begin(true)
	if err != nil {
		return err
	}
	for b := range 3 {
		bk, err := tx.CreateBucketIfNotExists(fmt.Appendf(nil, "b%d", b))
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := bk.Put(fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d-%d", b, i)); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return w.commit(tx, (*bolt.Tx).Commit)
}

// TestOverwriteLookLaggingMapIsNotAnOverwrite: a map that shows other
// bytes than the file's own (h241: a FUSE mount on a loaded machine
// fail-stopped a fresh store after three Sync saves, nothing copied over
// its file) is not the file overwritten: the look, and the commit's
// record of what it wrote, go by the file's bytes. Neither the looks
// after each fsync nor the commits fail while the map lags, nor after.
func TestOverwriteLookLaggingMapIsNotAnOverwrite(t *testing.T) {
	if mmapOffset == ^uintptr(0) {
		t.Skip("bbolt's map lock not found: the look reads the file always")
	}
	db, w, _ := watched(t, 3)
	restore := lagMap(t)
	if err := w.check(); err != nil {
		t.Fatalf("the look through a lagging map: %v", err)
	}
	for i := 3; i < 6; i++ {
		if err := putWatched(db, w, i); err != nil {
			t.Fatalf("commit %d while the map lags: %v", i, err)
		}
		if err := w.check(); err != nil {
			t.Fatalf("the look after commit %d, the map lagging: %v", i, err)
		}
	}
	restore()
	if err := w.check(); err != nil {
		t.Fatalf("the look once the map caught up: %v", err)
	}
	if err := putWatched(db, w, 6); err != nil {
		t.Fatalf("a commit once the map caught up: %v", err)
	}
}

// TestOverwriteLookLaggingMapStillSeesACopy: with the map lagging, bytes
// copied over the file (another store's meta pages; one byte of a mark)
// are still seen, before the next acknowledgement and before the next
// commit.
func TestOverwriteLookLaggingMapStillSeesACopy(t *testing.T) {
	if mmapOffset == ^uintptr(0) {
		t.Skip("bbolt's map lock not found: the look reads the file always")
	}
	_, _, otherPath := watched(t, 5)
	for _, c := range []string{"meta pages", "a mark"} {
		t.Run(c, func(t *testing.T) {
			db, w, path := watched(t, 3)
			r := w.rec.Load()
			if r == nil || r.bad || len(r.marks) == 0 {
				t.Fatalf("no record, or no marks: %+v", r)
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			switch c {
			case "meta pages":
				b, err := os.ReadFile(otherPath)
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.WriteAt(b[:2*r.ps], 0)
				if err != nil {
					t.Fatal(err)
				}
			case "a mark":
				m := r.marks[len(r.marks)-1]
				if _, err := f.WriteAt([]byte{m.b[0] ^ 1}, m.off); err != nil {
					t.Fatal(err)
				}
			}
			lagMap(t)
			var moved *MovedError
			if err := w.check(); !errors.As(err, &moved) || !moved.Overwritten() {
				t.Fatalf("the look after %s copied over, the map lagging: %v, want the file overwritten", c, err)
			}
			if err := putWatched(db, w, 9); !errors.As(err, &moved) || !moved.Overwritten() {
				t.Fatalf("a commit after %s copied over, the map lagging: %v, want the file overwritten", c, err)
			}
		})
	}
}
