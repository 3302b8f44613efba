package engine

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckPagesRefusesKeysOutOfOrderInAnInlineBucket: the keys of an
// inline bucket (a leaf page inside its parent's value: a thread's ids/
// of a few checkpoints is one) are placed by bbolt's binary search when
// written, as a page's are (TestCheckPagesRefusesKeysOutOfOrderInAPage),
// so a key damaged out of its place misleads a write into the bucket: the
// new key is stored out of order, and a cursor walking the bucket skips
// or repeats. The read-write Open's page check compared the keys of every
// page but not those of an inline bucket: the damaged file passed, and a
// Put after it left the bucket's keys out of order. CheckPages refuses
// it, ErrCorrupt, with the sweep and with the walk alone; the sound file
// passes, and so does a file of many inline buckets in a page's overflow.
func TestCheckPagesRefusesKeysOutOfOrderInAnInlineBucket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "inline.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("v"), 3*os.Getpagesize())
	err = db.Update(func(tx *bolt.Tx) error {
		parent, err := tx.CreateBucket([]byte("parent"))
		if err != nil {
			return err
		}
		// A large value first: the inline buckets after it lie in the
		// overflow of the parent's leaf page, past its first bytes.
		if err := parent.Put([]byte("a-big"), big); err != nil {
			return err
		}
		for _, name := range []string{"b-in", "c-in", "d-in"} {
			in, err := parent.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for _, k := range []string{"q0", "q1", "q2"} {
				if err := in.Put([]byte(name[:1]+k), []byte("v")); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := bytes.Index(data, []byte("a-big")), bytes.Index(data, []byte("bq1")); a < 0 || b-a < 2*os.Getpagesize() {
		t.Fatalf("the inline buckets at byte %d, the large value's key at %d: want them in its overflow", b, a)
	}
	f, check := damageable(t, path, len(data))
	if err := check(false); err != nil {
		t.Fatalf("the sound file: %v", err)
	}
	for _, c := range []struct{ key, to string }{
		{"bq1", "bq9"}, // above the key after it
		{"cq1", "cq0"}, // equal to the key before it
		{"dq2", "dq0"}, // below the key before it
	} {
		off := bytes.Index(data, []byte(c.key))
		if off < 0 || bytes.Count(data, []byte(c.key)) != 1 {
			t.Fatalf("key %q: not found once in the file", c.key)
		}
		if _, err := f.WriteAt([]byte(c.to), int64(off)); err != nil {
			t.Fatal(err)
		}
		walked, swept := check(true), check(false)
		if !errors.Is(swept, ErrCorrupt) || walked == nil || walked.Error() != swept.Error() {
			t.Errorf("inline key %q changed to %q: CheckPages %v, the walk %v; want ErrCorrupt from both", c.key, c.to, swept, walked)
		}
		if c.key == "bq1" {
			// What a write makes of it: the new key goes in by the
			// damaged one, and the bucket's keys no longer ascend.
			h181PutAfter(t, path, data, off, []byte(c.to))
		}
		if _, err := f.WriteAt([]byte(c.key), int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if err := check(false); err != nil {
		t.Fatalf("the file restored: %v", err)
	}
}

// h181PutAfter puts a key into b-in of a copy of the damaged file and
// logs whether the bucket's keys still ascend (they do not: the write
// spreads the damage the check refuses).
func h181PutAfter(t *testing.T, path string, data []byte, off int, to []byte) {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "put.db")
	d := bytes.Clone(data)
	copy(d[off:], to)
	if err := os.WriteFile(cp, d, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(cp, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var keys [][]byte
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("parent")).Bucket([]byte("b-in")).Put([]byte("bq5"), []byte("v"))
	})
	if err == nil {
		err = db.View(func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("parent")).Bucket([]byte("b-in")).ForEach(func(k, _ []byte) error {
				keys = append(keys, bytes.Clone(k))
				return nil
			})
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("b-in after a Put of bq5 into the damaged bucket: %q", keys)
}
