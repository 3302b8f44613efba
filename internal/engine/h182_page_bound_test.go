package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckPagesRefusesAPageKeyPastTheNextPage: the last key of a leaf
// page raised above the first key of the page after it (below that
// page's second key). Every page's keys still ascend and every branch key
// is its child's first key, so the page check passed the file, and a
// read-write Open handed it to the writes: bbolt places each write by the
// branch keys, so the damaged key stays in the page before its place, and
// when deletes shrink the page after it, bbolt merges that page into the
// damaged one, whose keys then do not ascend: a lookup's binary search
// misses keys the writes had stored and acknowledged (logged below: how
// many of the keys a plain bbolt handle wrote and kept it can no longer
// find). CheckPages refuses the file, ErrCorrupt, with the sweep and with
// the walk alone, the same text; the sound file passes.
func TestCheckPagesRefusesAPageKeyPastTheNextPage(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bound.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	val := bytes.Repeat([]byte("v"), 40)
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		// Even keys (room for one between two), enough for three levels
		// of pages: a leaf page last under its parent takes its bound
		// from the grandparent.
		for i := 0; i < 30000; i += 2 {
			if err := b.Put(key(i), val); err != nil {
				return err
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var depth int
	err = db.View(func(tx *bolt.Tx) error { depth = tx.Bucket([]byte("b")).Stats().Depth; return nil })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil || depth < 3 {
		t.Fatalf("the bucket's tree: depth %d, %v; want 3 levels at least", depth, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The bucket's leaf pages in key order: each one's first and last
	// key and where its last key lies in the file.
	ps := os.Getpagesize()
	type leaf struct {
		first, second, last []byte
		lastOff             int
	}
	var leaves []leaf
	for p := 2; (p+1)*ps <= len(data); p++ {
		pg := data[p*ps : (p+1)*ps]
		n := int(binary.LittleEndian.Uint16(pg[10:]))
		if binary.LittleEndian.Uint64(pg) != uint64(p) || binary.LittleEndian.Uint16(pg[8:]) != leafPageFlag || n < 3 {
			continue
		}
		k := func(i int) ([]byte, int) {
			at := pageHeaderSize + i*elemSize
			pos, ksize := int(binary.LittleEndian.Uint32(pg[at+4:])), int(binary.LittleEndian.Uint32(pg[at+8:]))
			return pg[at+pos : at+pos+ksize], p*ps + at + pos
		}
		first, _ := k(0)
		if first[0] != 'k' {
			continue
		}
		second, _ := k(1)
		last, off := k(n - 1)
		leaves = append(leaves, leaf{first, second, last, off})
	}
	sort.Slice(leaves, func(i, j int) bool { return bytes.Compare(leaves[i].first, leaves[j].first) < 0 })
	if len(leaves) < 200 {
		t.Fatalf("%d leaf pages, want at least 200", len(leaves))
	}
	f, check := damageable(t, path, len(data))
	if err := check(false); err != nil {
		t.Fatalf("the sound file: %v", err)
	}
	for i := range len(leaves) - 1 {
		cur, next := leaves[i], leaves[i+1]
		// Between the next page's first and second keys: next.first's
		// number plus one, odd, which no key has.
		var n int
		if _, err := fmt.Sscanf(string(next.first), "k%05d", &n); err != nil {
			t.Fatal(err)
		}
		to := key(n + 1)
		if bytes.Compare(to, next.first) <= 0 || bytes.Compare(to, next.second) >= 0 {
			t.Fatalf("%q is not between %q and %q", to, next.first, next.second)
		}
		if _, err := f.WriteAt(to, int64(cur.lastOff)); err != nil {
			t.Fatal(err)
		}
		walked, swept := check(true), check(false)
		if i == 0 {
			h182WritesOnPageBound(t, path, key, val, next.first, to)
		}
		if _, err := f.WriteAt(cur.last, int64(cur.lastOff)); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(swept, ErrCorrupt) || walked == nil || walked.Error() != swept.Error() {
			t.Errorf("leaf page ending %q raised to %q, past the next page's first key %q: CheckPages %v, the walk %v; want ErrCorrupt from both",
				cur.last, to, next.first, swept, walked)
		}
	}
	if err := check(false); err != nil {
		t.Fatalf("the file restored: %v", err)
	}
}

// h182WritesOnPageBound writes to a copy of the damaged file at path
// with a plain bbolt handle (no page check): a key put into the page
// after the damaged one, then the deletes that shrink that page, so
// bbolt merges it into the damaged page. It logs which keys the handle
// stored and kept that a lookup no longer finds.
func h182WritesOnPageBound(t *testing.T, path string, key func(int) []byte, val, nextFirst, raised []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "writes.db")
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(cp, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if _, err := fmt.Sscanf(string(nextFirst), "k%05d", &n); err != nil {
		t.Fatal(err)
	}
	// Kept: the next page's first key and a key written now beside it.
	added := key(n + 3)
	kept := [][]byte{nextFirst, key(n + 2), added}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Put(added, val) })
	if err == nil {
		err = db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := n + 4; i < n+200; i += 2 {
				if err := b.Delete(key(i)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var lost [][]byte
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("b"))
			for _, k := range kept {
				if b.Get(k) == nil {
					lost = append(lost, k)
				}
			}
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a page's last key raised to %q past the next page's first %q; after a Put of %q and deletes that merge the pages, lookups miss %q of %q",
		raised, nextFirst, added, lost, kept)
}
