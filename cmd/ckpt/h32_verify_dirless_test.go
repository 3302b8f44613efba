package main

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

// TestVerifyOfADirlessFormat7File: ckpt verify opens the file read-only,
// so a file of format 7 written before the directory of threads joined
// that format (no "dir" bucket; a read-write Open would list its threads)
// is verified as it is: intact, it must print OK and exit 0, not one
// problem per thread "missing from the directory".
func TestVerifyOfADirlessFormat7File(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "f7.db")
	s, err := ckpt.Open(db, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, th := range []string{"a", "b", "c"} {
		for i := range 3 {
			if _, err := s.Save(ctx, th, map[string]any{"n": i, "log": []any{i}}, ckpt.Metadata{"step": i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Format 7 without its directory: records and write tallies as this
	// build writes them, no dir bucket, the marker at 7.
	b, err := bolt.Open(db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("dir")); err != nil {
			return err
		}
		// Nor the marker's sum, which came after.
		if err := tx.Bucket([]byte("meta")).Delete([]byte("format-sum")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("format"), binary.BigEndian.AppendUint32(nil, 7))
	})
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r := ok(t, dir, "verify", db)
	if !strings.Contains(r.stdout, ": OK ") {
		t.Errorf("want OK:\n%s", r)
	}
	// Read-only: the file is left as format 7 without its directory.
	b, err = bolt.Open(db, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_ = b.View(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("dir")) != nil {
			t.Error("verify wrote a directory into the file")
		}
		if v := tx.Bucket([]byte("meta")).Get([]byte("format")); binary.BigEndian.Uint32(v) != 7 {
			t.Errorf("verify changed the format marker to %d", binary.BigEndian.Uint32(v))
		}
		return nil
	})
}
