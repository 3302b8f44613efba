package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestH194WriteThroughADamagedBucketRootIDKeepsTheOtherBucket: bucket a's
// root page id, in the root bucket's leaf, damaged under an open handle
// to name a leaf page of bucket b (writePathFile's b and c: 300 keys
// each, branch roots over leaves); a Put into a, then more Puts into a
// new bucket d, which reuse the pages the first commit freed. The
// descent checks a root page's own bytes but has no key its parent names
// it by (a bucket's root has no parent page in its own tree), so any
// page of any other bucket passes as a's root: on 11c71c3 the Put
// returned nil, its commit wrote b's leaf with the new key as a's whole
// tree and freed b's page, still in use there, and the Puts into d
// handed it out again: b's keys under the damaged leaf were lost (or
// bbolt's check fails). Open, skipped: only a walk of the file tells
// whose page it is (write_path.go's "Not covered").
func TestH194WriteThroughADamagedBucketRootIDKeepsTheOtherBucket(t *testing.T) {
	t.Skip("open: a bucket's root id damaged to name another bucket's page passes the descent (fails on 11c71c3)")
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "f.db")
	clean, ps, bRoot := writePathFile(t, path)
	_, _, _, kids := branchElems(t, clean, ps, bRoot)
	var lost []byte // b's first key under the leaf a's root will name
	{
		base := int(kids[1]) * ps
		e := base + pageHeaderSize
		pos, ksize := int(binary.LittleEndian.Uint32(clean[e+4:])), int(binary.LittleEndian.Uint32(clean[e+8:]))
		lost = bytes.Clone(clean[e+pos : e+pos+ksize])
	}
	// Bucket a, made now, holds enough keys to have a page of its own.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		a, err := tx.CreateBucket([]byte("a"))
		for i := range 40 {
			err = errors.Join(err, a.Put(fmt.Appendf(nil, "a-%04d", i), bytes.Repeat([]byte{'a'}, 100)))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var aRoot uint64
	_ = db.View(func(tx *bolt.Tx) error { aRoot = uint64(tx.Bucket([]byte("a")).Root()); return nil })
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// a's header in the root bucket's leaf: the value of key "a", whose
	// first 8 bytes are its root page id.
	at := bytes.Index(data, append(binary.LittleEndian.AppendUint64(nil, aRoot), make([]byte, 8)...))
	if aRoot == 0 || at < 0 {
		t.Fatalf("bucket a's root %d not found in a leaf", aRoot)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(binary.LittleEndian.AppendUint64(nil, kids[1]), int64(at)) // under the open handle
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
	werr := db.Update(func(tx *bolt.Tx) error {
		return NewBoltView(tx).Put(Path{[]byte("a")}, []byte("a-new"), []byte("new"))
	})
	if errors.Is(werr, ErrCorrupt) {
		return // refused before bbolt wrote: nothing lost
	}
	if werr != nil {
		t.Fatalf("Put = %v, want nil or ErrCorrupt", werr)
	}
	for n := range 20 {
		if err := db.Update(func(tx *bolt.Tx) error {
			v := NewBoltView(tx)
			for i := range 50 {
				if err := v.Put(Path{[]byte("d")}, fmt.Appendf(nil, "d-%02d-%04d", n, i), bytes.Repeat([]byte{'d'}, 100)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("Put into d %d: %v", n, err)
		}
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte("b")).Get(lost); v == nil {
			t.Errorf("the Put into a returned nil; bucket b's key %q, under the page a's damaged root id named, is gone", lost)
		}
		var errs []error
		for err := range tx.Check() { // drained: its goroutine reads the map until done
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			t.Errorf("the Put into a returned nil; bbolt's check: %v (%d errors)", errs[0], len(errs))
		}
		return nil
	})
}
