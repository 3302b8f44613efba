//go:build unix

package main

import (
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A killed store whose mark is raised by one flipped bit (above the group
// its binding to the log names): recover replays the whole log from the
// binding's group and drops nothing, and it said "dropped an unknown
// number of groups of writes". It says the log was whole and nothing was
// dropped.
func TestRecoverOfAFlippedMarkSaysNothingWasDropped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h31Logged(t, dir)
	db, err := bolt.Open(filepath.Join(dir, "f.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("meta"))
		m := binary.BigEndian.Uint64(b.Get([]byte("wal-applied")))
		return b.Put([]byte("wal-applied"), binary.BigEndian.AppendUint64(nil, m|0x100))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r := h31Exec(t, dir, "recover", "f.db")
	if r.code != 0 || strings.Contains(r.stdout, "unknown number") || !strings.Contains(r.stdout, "dropped nothing") {
		t.Fatalf("recover of a store whose mark alone was damaged:\n%s", r)
	}
	if r := h31Exec(t, dir, "verify", "f.db"); r.code != 0 {
		t.Fatalf("verify after recover:\n%s", r)
	}
}
