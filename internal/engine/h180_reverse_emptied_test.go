package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestH180ReverseScanOverEmptiedLeaves: in a write transaction (NoWAL's
// ops, and GC's steps, write bbolt's transaction itself), deleting every
// key of a leaf leaves its node empty until the commit, and bbolt's Prev
// onto an empty node returns nil as at the bucket's start (Last alone
// steps over one). A reverse scan whose walk crosses such a node ended
// there with no error: the keys before it were never yielded. headID
// then found no head (a Save grouped after a GC of its thread was
// acknowledged with no parent; GC's keepHeads check passed). Whatever
// was deleted in the transaction, a reverse scan yields exactly the keys
// left, newest first.
func TestH180ReverseScanOverEmptiedLeaves(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "r.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := Path{[]byte("cp")}
	key := func(ns byte, i int) []byte { return fmt.Appendf(nil, "%c%05d", ns, i) }
	const nA, nB = 600, 600 // keys of prefix "a", then of "b": many leaves each
	if err := db.Update(func(tx *bolt.Tx) error {
		w := NewBoltView(tx)
		for i := range nA {
			if err := w.Put(p, key('a', i), make([]byte, 60)); err != nil {
				return err
			}
		}
		for i := range nB {
			if err := w.Put(p, key('b', i), make([]byte, 60)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	errRollBack := errors.New("roll back")
	cases := 0
	// Deleted: a run of keys [from, to) over both prefixes (indexes into
	// the a keys then the b keys), from a few keys to many leaves; and
	// runs that leave one key before them alone in its leaf, which the
	// reverse seek's check of its successor steps past (Next over the
	// emptied nodes, and back).
	var runs [][2]int
	for _, span := range []int{1, 40, 70, 100, 150, 250, 400} {
		for from := 0; from+span <= nA+nB; from += 97 {
			runs = append(runs, [2]int{from, from + span})
		}
	}
	runs = append(runs, [2]int{1, nA - 1}, [2]int{nA + 1, nA + nB - 1}, [2]int{1, nA + nB - 1},
		[2]int{301, nA - 1}, [2]int{nA + 301, nA + nB - 1}, [2]int{301, nA + nB - 1})
	for _, run := range runs {
		{
			from, to := run[0], run[1]
			err := db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(p[0])
				all := func(i int) []byte {
					if i < nA {
						return key('a', i)
					}
					return key('b', i-nA)
				}
				for i := from; i < to; i++ {
					if err := b.Delete(all(i)); err != nil {
						return err
					}
				}
				for _, prefix := range []string{"a", "b"} {
					// Without a start, and from one (the keys before it).
					for _, start := range [][]byte{nil, key(prefix[0], 300)} {
						var want [][]byte
						for i := nA + nB - 1; i >= 0; i-- {
							if k := all(i); (i < from || i >= to) && k[0] == prefix[0] && (start == nil || string(k) < string(start)) {
								want = append(want, k)
							}
						}
						var got [][]byte
						if err := NewBoltView(tx).Scan(p, []byte(prefix), start, true, func(k, _ []byte) error {
							got = append(got, k)
							return nil
						}); err != nil {
							t.Errorf("deleted [%d, %d): reverse scan of %q from %q: %v", from, to, prefix, start, err)
						}
						if !slices.EqualFunc(got, want, func(a, b []byte) bool { return string(a) == string(b) }) {
							t.Errorf("deleted [%d, %d): reverse scan of %q from %q yields %d keys (first %q), want %d (first %q)",
								from, to, prefix, start, len(got), firstOf(got), len(want), firstOf(want))
						}
					}
				}
				cases++
				return errRollBack
			})
			if !errors.Is(err, errRollBack) {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d deleted runs, each scanned back under both prefixes, from their end and from a start", cases)
}

func firstOf(ks [][]byte) string {
	if len(ks) == 0 {
		return ""
	}
	return string(ks[0])
}
