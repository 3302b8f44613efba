//go:build linux

package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestH242OverwriteLookAfterAFullDiskCommit: a false "overwritten in
// place" fail-stops a healthy store as surely as a missed overwrite loses
// writes. On a small tmpfs filled to each page count of free room, bbolt
// commits through the watch until one fails for want of room, taken back
// as the commit loop and the applier do (revertFull: the failed commit's
// meta page put back if it landed); the look must still find the file
// the store's after each failure (the failed commit's page writes, its
// growth, the take-back), with the map agreeing or lagging (h241), and
// once the filler is gone the next commits and looks go on.
// TestRealFullDiskGoesOn sees a false look only as ErrFailed somewhere in
// a store; this one looks after each failure itself.
// Not parallel: a lagging map is the package's (mappedRead).
func TestH242OverwriteLookAfterAFullDiskCommit(t *testing.T) {
	mnt := mountTmpfs(t, 2<<20)
	for _, lag := range []bool{false, true} {
		if lag && mmapOffset == ^uintptr(0) {
			continue // the look reads the file always
		}
		for free := int64(0); free <= 64<<10; free += 4 << 10 {
			t.Run(fmt.Sprintf("lag %v free %d", lag, free), func(t *testing.T) { h242FullWatchRound(t, mnt, free, lag) })
		}
	}
}

func h242FullWatchRound(t *testing.T, mnt string, free int64, lag bool) {
	dir, err := os.MkdirTemp(mnt, "w")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ro, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rw, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	w := &fileWatch{path: path}
	w.reset(db, ro)
	put := func(i int) (clean bool, err error) {
		tx, err := db.Begin(true)
		if err != nil {
			return false, err
		}
		keep := uint64(tx.ID()) - 1
		for b := range 3 {
			bk, err := tx.CreateBucketIfNotExists(fmt.Appendf(nil, "b%d", b))
			if err == nil {
				err = bk.Put(fmt.Appendf(nil, "k%04d", i), bytes.Repeat([]byte{byte(i)}, 3000+b*5000))
			}
			if err != nil {
				_ = tx.Rollback()
				return false, err
			}
		}
		err = w.commit(tx, (*bolt.Tx).Commit)
		if err == nil {
			return true, nil
		}
		clean, rerr := revertFull(rw, db, tx, keep, err)
		if rerr != nil {
			t.Fatalf("commit %d failed (%v) and its take-back: %v", i, err, rerr)
		}
		return clean, err
	}
	for i := range 3 {
		if _, err := put(i); err != nil {
			t.Fatalf("commit %d with room: %v", i, err)
		}
	}
	if lag {
		defer lagMap(t)()
	}
	filler := filepath.Join(dir, "filler")
	if err := h32Fill(filler, free); err != nil {
		t.Fatal(err)
	}
	failed, i := 0, 3
	for ; failed < 3 && i < 200; i++ {
		clean, err := put(i)
		if cerr := w.check(); cerr != nil {
			t.Fatalf("the look after commit %d (%v; clean %v): %v", i, err, clean, cerr)
		}
		if err == nil {
			continue
		}
		if !clean {
			// Its meta page landed, or its room was not what failed: the
			// store stops here (its look was still right above).
			t.Logf("commit %d: not a clean full disk: %v", i, err)
			return
		}
		failed++
	}
	if failed == 0 {
		t.Fatalf("%d commits on a full disk, none failed", i)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for j := range 3 {
		if _, err := put(i + j); err != nil {
			t.Fatalf("commit %d once there is room: %v", i+j, err)
		}
		if err := w.check(); err != nil {
			t.Fatalf("the look after commit %d, with room: %v", i+j, err)
		}
	}
}

// TestH242OverwriteLookAfterARevertedMetaPage: a commit whose meta page
// landed before it reported a failure (its last fsync) is taken back by
// writing the kept transaction's meta page over it (RevertMeta). Before
// the take-back the file holds the failed commit's page in the other
// slot, after it the kept one's in both: the look finds the file the
// store's at each point, on a fresh file and on one a backup wrote
// (Tx.WriteTo: an odd txid in slot 0, its twin in slot 1, so the failed
// commit writes over the recorded slot and the take-back rebuilds it).
func TestH242OverwriteLookAfterARevertedMetaPage(t *testing.T) {
	for _, fromBackup := range []bool{false, true} {
		t.Run(fmt.Sprintf("from a backup %v", fromBackup), func(t *testing.T) {
			db, w, path := watched(t, 3)
			if fromBackup {
				// An odd newest txid: WriteTo puts it in slot 0.
				if uint64(w.rec.Load().txid)%2 == 0 {
					if err := putWatched(db, w, 3); err != nil {
						t.Fatal(err)
					}
				}
				copyPath := filepath.Join(t.TempDir(), "copy.db")
				if err := db.View(func(tx *bolt.Tx) error { return tx.CopyFile(copyPath, 0o600) }); err != nil {
					t.Fatal(err)
				}
				var err error
				if db, err = bolt.Open(copyPath, 0o600, nil); err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				f, err := os.Open(copyPath)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				w = &fileWatch{path: copyPath}
				w.reset(db, f)
				if r := w.rec.Load(); r == nil || r.slot != 0 || r.txid%2 != 1 {
					t.Fatalf("the copy's record: %+v, want an odd txid in slot 0 (the test's premise)", r)
				}
				path = copyPath
			}
			rw, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer rw.Close()
			tx, err := db.Begin(true)
			if err != nil {
				t.Fatal(err)
			}
			keep := uint64(tx.ID()) - 1
			if err := tx.Bucket([]byte("b0")).Put([]byte("failed"), []byte("x")); err != nil {
				t.Fatal(err)
			}
			landed := errors.New("the last fsync failed")
			err = w.commit(tx, func(tx *bolt.Tx) error {
				if err := tx.Commit(); err != nil {
					return err
				}
				return landed
			})
			if !errors.Is(err, landed) {
				t.Fatalf("the commit: %v", err)
			}
			if err := w.check(); err != nil && !fromBackup {
				// From a backup the failed page is over the recorded slot
				// until the take-back: the store fails there anyway.
				t.Fatalf("the look with the failed commit's meta page there: %v", err)
			}
			if err := RevertMeta(rw, keep); err != nil {
				t.Fatal(err)
			}
			if err := w.check(); err != nil {
				t.Fatalf("the look after the take-back: %v", err)
			}
		})
	}
}
