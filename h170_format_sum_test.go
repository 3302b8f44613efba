package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
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
