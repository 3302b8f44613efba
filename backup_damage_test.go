package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// swapLeafKeys swaps the first and the last key of a leaf page of db (a
// store file) that holds two or more keys of one length that differ, so
// that the page's keys are out of order: damage no page header shows,
// which a read-only Open lets through and bbolt's Tx.WriteTo copies. It
// returns the page.
func swapLeafKeys(t *testing.T, db []byte) int {
	t.Helper()
	ps := int(binary.LittleEndian.Uint32(db[16+8:]))
	// Only a page in the tree: a free page keeps its old contents, and
	// nothing reads it.
	path := filepath.Join(t.TempDir(), "pages.db")
	if err := os.WriteFile(path, db, 0o600); err != nil {
		t.Fatal(err)
	}
	bdb, err := bolt.Open(path, 0o600, &bolt.Options{}) // read-write: a read-only handle loads no freelist
	if err != nil {
		t.Fatal(err)
	}
	free := map[int]bool{}
	err = bdb.View(func(tx *bolt.Tx) error {
		for id := 2; (id+1)*ps <= len(db); id++ {
			if info, err := tx.Page(id); err != nil || info == nil || info.Type != "leaf" {
				free[id] = true
			}
		}
		return nil
	})
	if err := errors.Join(err, bdb.Close()); err != nil {
		t.Fatal(err)
	}
	key := func(pg []byte, i int) []byte {
		e := pg[16+i*16:]
		pos, ksize := int(binary.LittleEndian.Uint32(e[4:])), int(binary.LittleEndian.Uint32(e[8:]))
		return pg[16+i*16+pos : 16+i*16+pos+ksize]
	}
	for id := len(db)/ps - 1; id >= 2; id-- {
		pg := db[id*ps : (id+1)*ps]
		count := int(binary.LittleEndian.Uint16(pg[10:]))
		if free[id] || binary.LittleEndian.Uint16(pg[8:]) != 0x02 || count < 2 || binary.LittleEndian.Uint64(pg) != uint64(id) {
			continue
		}
		a, b := key(pg, 0), key(pg, count-1)
		if len(a) != len(b) || bytes.Equal(a, b) || 16+count*16 > ps {
			continue
		}
		tmp := bytes.Clone(a)
		copy(a, b)
		copy(b, tmp)
		return id
	}
	t.Fatal("no leaf page with two keys of one length")
	return 0
}

// TestBackupOfADamagedReadOnlyStoreIsCorrupt: a read-only store whose
// log a crashed writer left is backed up by copying its file and writing
// the log into the copy (replayInto). The copy carries the source's pages
// as they are: keys out of order in a leaf page (no header shows it, and
// a read-only Open does not read keys) had the replay write into the
// damaged tree and place the copy as if whole. BackupFile must return
// ErrCorrupt, place nothing and leave no temporary file; the source's
// files are unchanged and the store closes. Backup (to a
// writer) builds the same copy in a temporary file: ErrCorrupt too.
func TestBackupOfADamagedReadOnlyStoreIsCorrupt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	saveN(t, s, "t", 0, 200) // enough for branch pages
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openUnapplied(t, path)
	saveN(t, s, "t", 200, 12)
	cp := crashCopy(t, s)
	_ = s.Close()
	db, log := readBoth(t, cp)
	page := swapLeafKeys(t, db)
	src := placeFixture(t, db, log)
	r, err := Open(src, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a file with leaf page %d's keys swapped: %v", page, err)
	}
	dst := filepath.Join(t.TempDir(), "backup.db")
	err = r.BackupFile(context.Background(), dst)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("BackupFile of a store whose leaf page %d has its keys out of order: %v, want ErrCorrupt", page, err)
	}
	if _, serr := os.Lstat(dst); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("a failed backup (%v) placed a file at the destination (%v)", err, serr)
	}
	if left := backupTemps(t, dst); len(left) != 0 {
		t.Fatalf("a failed backup left %v", left)
	}
	if got, _ := readBoth(t, src); !bytes.Equal(got, db) {
		t.Fatal("a failed backup changed the source file")
	}
	if _, got := readBoth(t, src); !bytes.Equal(got, log) {
		t.Fatal("a failed backup changed the source's log")
	}
	var buf bytes.Buffer
	if err := r.Backup(context.Background(), &buf); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Backup (the stream form, through a temporary copy) of the same store: %v, want ErrCorrupt", err)
	}
	t.Log(err)
	// The failed backups let go of the store: it closes (Close waits for
	// a backup still running).
	if err := r.Close(); err != nil {
		t.Fatalf("Close after the failed backups: %v", err)
	}
}
