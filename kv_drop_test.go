package ckpt

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestDropBucketChangedInSameTransactionFreesEveryPage is the page leak of
// a failed import (issue 14): a thread bucket committed earlier gets a new
// nested bucket, and is then dropped in the same transaction (the applier
// replays an import batch and its undo together). bbolt's DeleteBucket then
// skipped a nested bucket and leaked its pages ("unreachable unfreed").
func TestDropBucketChangedInSameTransactionFreesEveryPage(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "drop.db"), 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	thread := threadBucket("t")
	err = db.Update(func(tx *bolt.Tx) error {
		v := engine.NewBoltView(tx)
		for i := range 20 {
			k := []byte(fmt.Sprintf("k%03d", i))
			// bl and cp get pages of their own; ids and md stay inline.
			for sub, size := range map[string]int{"bl": 3000, "cp": 80, "ids": 1, "md": 10} {
				if err := v.Put(append(bucketPath{}, append(thread, []byte(sub))...), k, bytes.Repeat([]byte("v"), size)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		v := engine.NewBoltView(tx)
		if err := v.Put(threadPath("t", bucketSegments), []byte("k"), []byte("v")); err != nil {
			return err
		}
		return v.DropBucket(thread)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			t.Error("page check after dropping the bucket:", e)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
