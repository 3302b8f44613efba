package engine

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestForwardScanAfterEmptiedLeaves: in a write transaction, Deletes leave
// a bucket's leaf nodes empty until the commit rebalances them. The
// forward seek's check of its predecessor (checkForwardSeek) steps back
// over them, and must leave the scan yielding each key once, from the one
// sought: no false ErrCorrupt, no key yielded twice.
func TestForwardScanAfterEmptiedLeaves(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "b.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	key := func(i int) []byte { return fmt.Appendf(nil, "k%04d", i) }
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		for i := range 1000 {
			if err := b.Put(key(i), make([]byte, 40)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, cut := range []int{1, 100, 500, 999} {
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := range cut {
				if err := b.Delete(key(i)); err != nil {
					return err
				}
			}
			v := NewBoltView(tx)
			for _, start := range [][]byte{nil, key(cut), key(cut - 1)} {
				var got []string
				if err := v.Scan(Path{[]byte("b")}, []byte("k"), start, false, func(k, _ []byte) error {
					got = append(got, string(k))
					return nil
				}); err != nil {
					return fmt.Errorf("cut %d start %q: %w", cut, start, err)
				}
				if len(got) != 1000-cut || got[0] != string(key(cut)) || got[len(got)-1] != string(key(999)) {
					return fmt.Errorf("cut %d start %q: %d keys from %q to %q, want %d from %q", cut, start, len(got), got[0], got[len(got)-1], 1000-cut, key(cut))
				}
			}
			return errRollback
		})
		if err != errRollback {
			t.Fatal(err)
		}
	}
}

var errRollback = fmt.Errorf("rollback")
