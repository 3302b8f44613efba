package engine

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Buckets names the nested buckets only, in a read-only transaction (which
// tells a bucket by its nil value without opening it) as in a write one:
// not a key with an empty value, on a page or in a node the write
// transaction made, nor one with a value; inline and big buckets alike.
func TestBucketsNamesBucketsOnly(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "b.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fill := func(tx *bolt.Tx, suffix string) error {
		top, err := tx.CreateBucketIfNotExists([]byte("top"))
		if err != nil {
			return err
		}
		if _, err := top.CreateBucket([]byte("a" + suffix)); err != nil { // inline
			return err
		}
		big, err := top.CreateBucket([]byte("c" + suffix))
		if err != nil {
			return err
		}
		for i := range 2000 {
			if err := big.Put(fmt.Appendf(nil, "k%05d", i), make([]byte, 50)); err != nil {
				return err
			}
		}
		if err := top.Put([]byte("b"+suffix), []byte{}); err != nil {
			return err
		}
		return top.Put([]byte("d"+suffix), []byte("x"))
	}
	names := func(v *BoltView) string {
		var got []string
		if err := v.Buckets(Path{[]byte("top")}, nil, func(n []byte) error {
			got = append(got, string(n))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return fill(tx, "1") }); err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if got := names(NewBoltView(tx)); got != "[a1 c1]" {
			t.Errorf("read-only: %s, want [a1 c1]", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := fill(tx, "2"); err != nil {
			return err
		}
		if got := names(NewBoltView(tx)); got != "[a1 a2 c1 c2]" {
			t.Errorf("write: %s, want [a1 a2 c1 c2]", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
