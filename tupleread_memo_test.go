package ckpt

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// A List page's reader cuts a segment's items at a count from the item
// ends it found for an earlier tuple (cutItems): it must answer as
// itemsLen does, for counts further back, further on, in another segment
// (one at the same place after release too), and in bytes that are not
// items (an error, the same as itemsLen's, and nothing kept).
func TestCutItemsAgreesWithItemsLen(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	segment := func() []byte {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		for range rng.IntN(40) {
			if err := enc.Encode(randValue(rng, 1)); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(8) == 0 && buf.Len() > 0 { // cut short or bad bytes
			b := buf.Bytes()[:rng.IntN(buf.Len())]
			if rng.IntN(2) == 0 {
				b = append(b, 0xc1) // never used
			}
			return b
		}
		return buf.Bytes()
	}
	tr := new(Store).newTupleReader(nil)
	tr.listing = true
	// The reader released last, not the first one again: a deferred
	// tr.release() takes tr as it is now, and the loop below releases it
	// and takes another, so the first went back to the pool twice and a
	// parallel test's read got it while another used it (a race CI saw).
	defer func() { tr.release() }()
	// Two segments of the same length whose first items end apart.
	a, b := encodeItems(t, "aaa", "bbbbb"), encodeItems(t, "bbbbb", "aaa")
	for _, seg := range [][]byte{a, b, a} {
		got, _ := tr.cutItems(seg, 1)
		want, _ := itemsLen(seg, 1)
		if got != want {
			t.Fatalf("first item of % x: cutItems %d, itemsLen %d", seg, got, want)
		}
	}
	var p []byte
	// 1,500 cuts under -race (20,000 took 53 s in a loaded CI run, 5,000
	// 18 s at load 15-20): one goroutine compares cutItems with itemsLen;
	// CI's plain command runs all 20,000.
	for i := range raceRounds(t, 20000, 1500) {
		if p == nil || rng.IntN(10) == 0 {
			p = segment()
		}
		if rng.IntN(500) == 0 { // a new read: the pooled reader again
			tr.release()
			tr = new(Store).newTupleReader(nil)
			tr.listing = true
		}
		k := rng.IntN(45)
		got, gotErr := tr.cutItems(p, k)
		want, wantErr := itemsLen(p, k)
		if got != want || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
			t.Fatalf("cut %d: %d items of a %d-byte segment: cutItems %d, %v; itemsLen %d, %v", i, k, len(p), got, gotErr, want, wantErr)
		}
	}
}

func encodeItems(t *testing.T, items ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	for _, it := range items {
		if err := enc.Encode(it); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}
