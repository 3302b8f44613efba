package main

import (
	"path/filepath"
	"testing"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// A checkpoint whose record is stored and whose entry in its thread's
// history order is gone (a damaged page, a tool) was left out of `ckpt
// log` without a word: the log walks the history order. It fails (exit
// 1, one line) naming the checkpoint instead of printing a shorter
// history.
func TestLogOfAThreadMissingAHistoryEntryFails(t *testing.T) {
	t.Parallel()
	dir, db := demoFixture(t)
	bad := filepath.Join(dir, "bad.db")
	copyFile(t, db, bad)
	b, err := bolt.Open(bad, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var gone string
	err = b.Update(func(tx *bolt.Tx) error {
		ids := tx.Bucket([]byte("threads")).Bucket([]byte("demo")).Bucket([]byte("ids"))
		c := ids.Cursor()
		k, _ := c.First()
		k, _ = c.Next() // the second checkpoint (the layout: bucket_layout.go)
		gone = ulid.ULID(k[:16]).String()
		return ids.Delete(k)
	})
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	failsWith(t, runIn(t, dir, "", "log", bad, "demo"), 1, gone)
	failsWith(t, runIn(t, dir, "", "log", bad, "demo", "--json"), 1, "missing from the thread's history order")
}
