package main

import (
	"os"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// h227SwapMark sets (or reads) meta/swap-unsynced in a closed store file
// with bbolt alone: the mark a Compact leaves when its directory fsync
// after the rename failed.
func h227SwapMark(t *testing.T, path string, set bool) bool {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: !set})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var has bool
	f := func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		if b == nil {
			t.Fatal("no meta bucket")
		}
		if set {
			return b.Put([]byte("swap-unsynced"), []byte{1})
		}
		has = b.Get([]byte("swap-unsynced")) != nil
		return nil
	}
	if set {
		err = db.Update(f)
	} else {
		err = db.View(f)
	}
	if err != nil {
		t.Fatal(err)
	}
	return has
}

// TestH227CompactOnAMarkedFile: ckpt compact on a file still marked
// meta/swap-unsynced (an earlier Compact's rename may not be durable).
// Its read-write open compacts once more first (a new rename, fsync'd,
// the mark cleared), then the command compacts: it must succeed, leave
// no mark and no .compact, keep every checkpoint, and say how much the
// file shrank since the command began (the open's compaction gave the
// space back, the command's own found none: "0 B given back" was wrong).
func TestH227CompactOnAMarkedFile(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	path := db
	ok(t, dir, "gc", db, "--keep-last", "2")
	h227SwapMark(t, path, true)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	c := decodeJSON[map[string]any](t, ok(t, dir, "compact", db, "--json"))
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if h227SwapMark(t, path, false) {
		t.Errorf("the mark is still in the file after ckpt compact")
	}
	if _, err := os.Lstat(path + ".compact"); err == nil {
		t.Errorf("%s.compact left behind", db)
	}
	if after.Size() >= before.Size() {
		t.Fatalf("setup: compact did not shrink the file (%d -> %d bytes)", before.Size(), after.Size())
	}
	if c["file_bytes_before"] != float64(before.Size()) || c["file_bytes_after"] != float64(after.Size()) {
		t.Errorf("compact --json = %v, want %d -> %d bytes (the file when the command began, and after)", c, before.Size(), after.Size())
	}
	ok(t, dir, "verify", db)
	if n := logCount(t, dir, db); n != 2 {
		t.Errorf("%d checkpoints after compact, want 2", n)
	}
	// The text line too, on a fresh copy with free pages.
	dir, db = demoFixture(t)
	ok(t, dir, "gc", db, "--keep-last", "2")
	h227SwapMark(t, db, true)
	text := ok(t, dir, "compact", db).stdout
	if !strings.Contains(text, "compacted") || strings.Contains(text, "(0 B given back)") {
		t.Errorf("compact of a marked file says:\n%s", text)
	}
}
