package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestFormatMarkerSumKeptByOldFiles: a file without the marker's sum
// (written before it) still opens, read-only as it is, and read-write
// gets the sum; a marker flipped after that is refused.
func TestFormatMarkerSumKeptByOldFiles(t *testing.T) {
	path, _ := h170Store(t)
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyFormatSum) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, ro := range []bool{true, false} {
		s, err := Open(path, Options{ReadOnly: ro})
		if err != nil {
			t.Fatalf("Open(readonly=%v) of a file without the marker's sum: %v", ro, err)
		}
		rep, err := s.Verify(context.Background(), VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("Verify(readonly=%v): %v %+v", ro, err, rep)
		}
		s.Close()
	}
	db, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var sum []byte
	db.View(func(tx *bolt.Tx) error { sum = append(sum, tx.Bucket(bucketMeta).Get(keyFormatSum)...); return nil })
	db.Close()
	if len(sum) != 4 || binary.BigEndian.Uint32(sum) != formatSum(encodeFormat()) {
		t.Fatalf("after a read-write Open, the marker's sum is %x, want %08x", sum, formatSum(encodeFormat()))
	}
	h170Damage(t, path, 0x0f, false)
	if _, err := Open(path, Options{ReadOnly: true}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open after the marker flipped: %v, want ErrCorrupt", err)
	}
}

// h170SumBytes is the value of meta "format-sum" for a marker of format v,
// as a string of its 4 bytes.
func h170SumBytes(v uint32) string {
	return string(binary.BigEndian.AppendUint32(nil, formatSum(binary.BigEndian.AppendUint32(nil, v))))
}

// TestFormatMarkerAndSumEveryFlip: every mask of the marker's last byte
// and every single bit of the marker and of its sum: a read-only Open is
// ErrCorrupt for each, never a file read as another format.
func TestFormatMarkerAndSumEveryFlip(t *testing.T) {
	clean, _ := h170Store(t)
	orig, err := os.ReadFile(clean)
	if err != nil {
		t.Fatal(err)
	}
	type flip struct {
		key  []byte
		at   int
		mask byte
	}
	var flips []flip
	for m := 1; m < 256; m++ {
		flips = append(flips, flip{keyFormat, 3, byte(m)})
	}
	for _, key := range [][]byte{keyFormat, keyFormatSum} {
		for at := range 4 {
			for bit := range 8 {
				flips = append(flips, flip{key, at, 1 << bit})
			}
		}
	}
	path := filepath.Join(t.TempDir(), "d.db")
	for _, f := range flips {
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			v := append([]byte(nil), meta.Get(f.key)...)
			v[f.at] ^= f.mask
			return meta.Put(f.key, v)
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, Options{ReadOnly: true})
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("meta %q byte %d ^%#x: Open: %v, want ErrCorrupt", f.key, f.at, f.mask, err)
		}
	}
}
