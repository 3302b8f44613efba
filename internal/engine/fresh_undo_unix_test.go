//go:build unix

package engine

import (
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestFreshUndoKeepsAStoreMadeWithSmallerPages: a failed Open that found
// the file empty removes what bbolt left of its first pages only while
// the file is shorter than four pages (freshFile.undo). Counted in the
// failed opener's page size, a whole store another opener made there with
// smaller pages in the meantime (a full disk let A write nothing, space
// freed, B opened, wrote and closed before A's undo took the lock) was
// under four of A's pages, and removed: B's committed key was gone
// (found by helper-147's review). A file whose first page is a whole meta
// page counts in the page size that page names.
func TestFreshUndoKeepsAStoreMadeWithSmallerPages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path) // what A's Open found: the file, empty
	if err != nil {
		t.Fatal(err)
	}
	ff := &freshFile{fi: fi, created: true}
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: 4096}) // B, on the same inode
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("acknowledged"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ff.undo(path, 64<<10) // A's undo, at its page size
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("B's store after A's undo: %v", err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("b")); b == nil || string(b.Get([]byte("k"))) != "acknowledged" {
			t.Error("B's committed key is gone")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
