package engine

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestReloadedFreelistTellsAnotherList: the check revertFull runs after a
// rollback passes for bbolt's own free list, and fails once the file's
// freelist page names another page than bbolt holds free (as bbolt's list
// is after it reloaded a failed commit's page): the powerfs hunt's case
// (TestPowerFaultFullDiskNoWAL) without FUSE.
func TestReloadedFreelistTellsAnotherList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 5 {
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put(fmt.Appendf(nil, "k%d", i), make([]byte, 3000))
		}); err != nil {
			t.Fatal(err)
		}
	}
	var keep uint64
	if err := db.View(func(tx *bolt.Tx) error { keep = uint64(tx.ID()); return nil }); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := reloadedFreelist(f, db, keep); err != nil {
		t.Fatalf("bbolt's own free list: %v", err)
	}
	if err := reloadedFreelist(f, db, keep-1); err == nil {
		t.Fatal("a list checked against the transaction before passed")
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	c := &pageCheck{f: f, size: uint64(fi.Size())}
	m, ok, err := c.meta()
	if err != nil || !ok {
		t.Fatalf("meta: %v %v", ok, err)
	}
	c.hwm = m.hwm
	ids, err := c.freeIDs(m.freelist)
	if err != nil || len(ids) == 0 {
		t.Fatalf("free pages %v: %v", ids, err)
	}
	// The tree's root page in place of the first free one: the same
	// count, another page.
	at := int64(m.freelist*c.ps) + pageHeaderSize
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], m.root)
	if _, err := f.WriteAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	err = reloadedFreelist(f, db, keep)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("without page %d", m.root)) {
		t.Fatalf("a free list naming page %d instead of %d: %v", m.root, ids[0], err)
	}
}
