package engine

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestViewScanAllocationsDoNotGrowWithBaseKeys: a scan that merges overlay
// entries with bbolt's keys allocates the same whatever the number of
// bbolt keys it walks (a closure per base key made a List over a long
// thread allocate once per key), and a view used for many scans (a pooled
// read's) allocates little per scan (it was 19-21 at 12 keys: a cursor, its
// prefix, closures, the prefix's end).
func TestViewScanAllocationsDoNotGrowWithBaseKeys(t *testing.T) {
	p := Path{[]byte("b")}
	allocs := func(n int, reverse bool) float64 {
		db, err := bolt.Open(filepath.Join(t.TempDir(), "v.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.Update(func(tx *bolt.Tx) error {
			w := NewBoltView(tx)
			for i := range n {
				if err := w.Put(p, fmt.Appendf(nil, "k%05d", 2*i), []byte("v")); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		tx, err := db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		tree := NewTree()
		ow := NewTreeWriter(tree, NewBoltView(tx), 1)
		for _, i := range []int{1, n - 1} { // between bbolt's first keys, and after its last
			if err := ow.Put(p, fmt.Appendf(nil, "k%05d", i), []byte("o")); err != nil {
				t.Fatal(err)
			}
		}
		v := NewView(tree.Frozen(), NewBoltView(tx))
		seen := 0
		count := func(k, val []byte) error { seen++; return nil }
		scan := func() {
			seen = 0
			if err := v.Scan(p, []byte("k"), nil, reverse, count); err != nil {
				t.Fatal(err)
			}
		}
		scan()
		if seen != n+2 {
			t.Fatalf("n=%d reverse=%v: scanned %d keys, want %d", n, reverse, seen, n+2)
		}
		return testing.AllocsPerRun(50, scan)
	}
	for _, reverse := range []bool{false, true} {
		few, many := allocs(10, reverse), allocs(1000, reverse)
		if many != few {
			t.Errorf("reverse=%v: a merged scan of 12 keys allocates %.0f, of 1,002 keys %.0f: want the same", reverse, few, many)
		}
		if few > 2 {
			t.Errorf("reverse=%v: a merged scan allocates %.0f, want at most 2 (the overlay's iterator, which tidwall/btree allocates each time, and a runtime one AllocsPerRun counts)", reverse, few)
		}
	}
}

// TestReverseScanPastTheLastKey: a reverse scan whose bound lies past the
// bucket's last key starts at that last key (a Seek that finds nothing,
// then Prev: no second descent from the root), in a bucket of one page
// and of many (branch pages above the leaves), for a bound inside the
// keys, for an empty bucket and a prefix nothing has, and in a write
// transaction whose last keys were just deleted (Last steps over the
// emptied node).
func TestReverseScanPastTheLastKey(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "r.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	small, large, empty := Path{[]byte("small")}, Path{[]byte("large")}, Path{[]byte("empty")}
	if err := db.Update(func(tx *bolt.Tx) error {
		w := NewBoltView(tx)
		for i := range 5 {
			if err := w.Put(small, fmt.Appendf(nil, "k%05d", i), []byte("v")); err != nil {
				return err
			}
		}
		for i := range 5000 {
			if err := w.Put(large, fmt.Appendf(nil, "k%05d", i), make([]byte, 40)); err != nil {
				return err
			}
		}
		// A key after the prefix's keys, and an empty bucket.
		if err := w.Put(large, []byte("z"), []byte("v")); err != nil {
			return err
		}
		_, err := tx.CreateBucketIfNotExists(empty[0])
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// first returns the first two keys of a reverse scan.
	first := func(r Reader, p Path, prefix, start string) []string {
		var got []string
		var st []byte
		if start != "" {
			st = []byte(start)
		}
		if err := r.Scan(p, []byte(prefix), st, true, func(k, _ []byte) error {
			got = append(got, string(k))
			if len(got) == 2 {
				return ErrStop
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: reverse scan starts %q, want %q", what, got, want)
		}
	}
	if err := db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(large[0]).Stats().BranchPageN == 0 {
			t.Fatal("the large bucket has no branch page")
		}
		r := NewBoltView(tx)
		check("small, no bound", first(r, small, "k", ""), "k00004", "k00003")
		check("small, bound past the last key", first(r, small, "k", "k99999"), "k00004", "k00003")
		check("small, empty prefix", first(r, small, "", ""), "k00004", "k00003")
		check("large, no bound (the prefix's end is before z)", first(r, large, "k", ""), "k04999", "k04998")
		check("large, empty prefix (past the last key)", first(r, large, "", ""), "z", "k04999")
		check("large, bound past the last key", first(r, large, "", "zz"), "z", "k04999")
		check("large, bound inside (the bound itself is not scanned)", first(r, large, "k", "k02500"), "k02499", "k02498")
		check("large, a prefix past every key", first(r, large, "zz", ""))
		check("empty bucket", first(r, empty, "", ""))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A write transaction that deleted the last keys (a whole leaf's worth).
	if err := db.Update(func(tx *bolt.Tx) error {
		w := NewBoltView(tx)
		if err := w.Del(large, []byte("z")); err != nil {
			return err
		}
		for i := 4000; i < 5000; i++ {
			if err := w.Del(large, fmt.Appendf(nil, "k%05d", i)); err != nil {
				return err
			}
		}
		check("write transaction after deletes", first(w, large, "", ""), "k03999", "k03998")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
