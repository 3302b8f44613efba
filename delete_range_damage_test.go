package ckpt

// GC deletes what it scanned, then scans again while anything is left (a
// thread's blobs, its pending writes). On a page whose keys a damage
// swapped, a key the scan yields may be one bbolt's search cannot find,
// and bbolt's Delete of a key it cannot find does nothing, silently: the
// key was found again by every later scan, and GC with a thread TTL
// committed the same empty transactions for ever (the h30 hang hunt, seed
// 120271, one replay in about eight: "op delete: did not return").

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

func TestDeleteRangeOfAKeyItsSearchCannotFindIsCorrupt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "b.db")
	keys := make([][]byte, 4)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range keys {
			keys[i] = fmt.Appendf(nil, "blob-key-%04d-of-the-thread", i)
			if err := b.Put(keys[i], []byte("value")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Swap the second and third keys in place: the page then holds keys
	// 0, 2, 1, 3, and the search for key 1 lands on key 2.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i1, i2 := bytes.Index(raw, keys[1]), bytes.Index(raw, keys[2])
	if i1 < 0 || i2 < 0 || bytes.Count(raw, keys[1]) != 1 {
		t.Fatal("the keys are not in the file once each")
	}
	copy(raw[i1:], keys[2])
	copy(raw[i2:], keys[1])
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := bucketPath{[]byte("b")}
	var errs []error
	var deleted []int
	for range 2 {
		var n int
		err := db.Update(func(tx *bolt.Tx) error {
			var freed int64
			var err error
			n, _, err = deleteRange(engine.NewBoltView(tx), p, nil, 10, nil, &freed)
			return err
		})
		errs, deleted = append(errs, err), append(deleted, n)
		if err != nil {
			break
		}
	}
	switch {
	case errs[0] != nil && !errors.Is(errs[0], ErrCorrupt):
		t.Fatalf("deleteRange = %v, want ErrCorrupt", errs[0])
	case errs[0] == nil && len(errs) > 1 && errs[1] == nil && deleted[1] != 0:
		t.Fatalf("deleteRange deleted %d keys, then found and deleted %d again: a delete that did nothing was counted done", deleted[0], deleted[1])
	case len(errs) > 1 && errs[1] != nil && !errors.Is(errs[1], ErrCorrupt):
		t.Fatalf("deleteRange again = %v, want ErrCorrupt", errs[1])
	}
}
