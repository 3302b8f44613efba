package engine

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// metaOf is a valid meta page body of transaction txid (root r).
func metaOf(txid, r uint64) metaBytes {
	var b metaBytes
	binary.LittleEndian.PutUint32(b[0:], boltMagic)
	binary.LittleEndian.PutUint32(b[4:], boltVersion)
	binary.LittleEndian.PutUint32(b[8:], 4096)
	binary.LittleEndian.PutUint64(b[16:], r)
	binary.LittleEndian.PutUint64(b[48:], txid)
	h := fnv.New64a()
	h.Write(b[:metaChecksumAt])
	binary.LittleEndian.PutUint64(b[metaChecksumAt:], h.Sum64())
	return b
}

// TestOverwriteLookReadsMetaPages: the look at the store's file
// (overwrite.go) takes the page of the last commit the store made, byte
// for byte, and lets the other page hold the commit that may be in
// flight, and no newer: a copy of the store taken before its last commit,
// or one committed to after it was taken (a backup's cleared live mark),
// has the same tree at the same pages and other meta pages.
func TestOverwriteLookReadsMetaPages(t *testing.T) {
	rec := &metaRec{txid: 5, slot: 1, meta: metaOf(5, 3)}
	torn := metaOf(6, 3)
	torn[20] ^= 1
	for _, c := range []struct {
		name string
		s    [2]metaBytes // slot 0, slot 1 (txid 5's)
		want bool
	}{
		{"as committed", [2]metaBytes{metaOf(4, 3), metaOf(5, 3)}, true},
		{"a commit in flight", [2]metaBytes{metaOf(6, 9), metaOf(5, 3)}, true},
		{"a commit in flight, its page half-written", [2]metaBytes{torn, metaOf(5, 3)}, true},
		{"the last commit's page other", [2]metaBytes{metaOf(4, 3), metaOf(5, 4)}, false},
		{"an older copy", [2]metaBytes{metaOf(4, 3), metaOf(3, 3)}, false},
		{"a copy committed to twice since", [2]metaBytes{metaOf(7, 3), metaOf(5, 3)}, false},
	} {
		if got := rec.holds(c.s, nil); got != c.want {
			t.Errorf("%s: holds %v, want %v", c.name, got, c.want)
		}
	}
	if ok, txid := metaTxid(torn); ok || txid != 6 {
		t.Errorf("a torn meta page: valid %v (txid %d)", ok, txid)
	}
	if ok, txid := metaTxid(metaOf(6, 3)); !ok || txid != 6 {
		t.Errorf("a meta page: valid %v, txid %d", ok, txid)
	}
}

// BenchmarkOverwriteLook is the look at the store's file alone, as the
// syncer makes it after each fsync of the log: its meta pages and marks
// read through bbolt's map.
func BenchmarkOverwriteLook(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "s.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "index", "threads"} {
			bk, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 200 {
				if err := bk.Put(fmt.Appendf(nil, "key-%04d", i), make([]byte, 100)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var w fileWatch
	w.reset(db, nil)
	if r := w.rec.Load(); r == nil || len(r.marks) == 0 {
		b.Fatalf("no record, or no marks: %+v", r)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.check(); err != nil {
			b.Fatal(err)
		}
	}
}
