package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// 'ckpt log --json' streams its array: on a thread whose history is
// damaged past the first 64 KiB of output it wrote what it had read, cut
// in the middle of a string where its buffer happened to end, then the
// error: stdout was no JSON at all. It ends the array after the last
// checkpoint it read, so stdout stays JSON (cut short: the exit status and
// the line on stderr say the thread is damaged).
func TestH165LogJSONStaysJSONOnDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "long.db")
	s, err := ckpt.Open(db, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500 // about 300 KiB of JSON: several of the buffer's flushes
	for i := range n {
		if _, err := s.Save(context.Background(), "long", map[string]any{"a": i}, ckpt.Metadata{"node": "n", "step": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The oldest checkpoint's entry in the history order goes (a damaged
	// page, a tool): log meets it last (bucket_layout.go).
	b, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		ids := tx.Bucket([]byte("threads")).Bucket([]byte("long")).Bucket([]byte("ids"))
		k, _ := ids.Cursor().First()
		return ids.Delete(k)
	})
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r := runIn(t, dir, "", "log", db, "long", "--json")
	failsWith(t, r, 1, "missing from the thread's history order")
	var rows []logEntry
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		end := r.stdout[max(0, len(r.stdout)-120):]
		t.Fatalf("stdout (%d bytes) is no JSON: %v; it ends %q", len(r.stdout), err, end)
	}
	if len(rows) == 0 || len(rows) >= n {
		t.Fatalf("want the checkpoints read before the damage, got %d of %d", len(rows), n)
	}
	if got, want := fmt.Sprint(rows[0].Step), fmt.Sprint(n-1); got != want {
		t.Fatalf("first row is step %s, want the newest, %s", got, want)
	}
}
