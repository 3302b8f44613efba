package ckpt

// A tupleReader reads its thread's buckets through handles looked up once
// a read (engine.Bucket) when the read is a bbolt snapshot's, instead of
// by path at every Get and Scan: a List page reads the same six buckets
// about 175 times (R4), and each lookup by path encodes, hashes and
// compares the path.

import "github.com/ckpt-go/ckpt/internal/engine"

// The indexes of a thread's buckets in tupleReader.paths.
const (
	bCP = iota
	bMD
	bWR
	bBL
	bLS
	bIDS
)

// bucket returns the handle of the thread's bucket i (bCP, ...), looked
// up at its first use in the read; false when the reader reads by path.
func (t *tupleReader) bucket(i int) (engine.Bucket, bool) {
	if t.opened&(1<<i) != 0 {
		return t.handles[i], true
	}
	if t.opener == nil {
		return engine.Bucket{}, false
	}
	if t.opened&threadOpened == 0 {
		h, ok := t.opener.Bucket(t.paths[i][:2]) // threads/<thread>
		if !ok {
			return engine.Bucket{}, false
		}
		t.threadBucket = h
		t.opened |= threadOpened
	}
	h := t.threadBucket.Child(t.paths[i][:], i)
	t.handles[i] = h
	t.opened |= 1 << i
	return h, true
}

// threadOpened is the bit of tupleReader.opened that says threadBucket
// is the thread's: its six buckets are looked up among its children
// (engine.Bucket.Child), the thread's path hashed once a read.
const threadOpened = 1 << 7

// get, scan and has read the thread's bucket i as the reader's Get, Scan
// and Has read it by path.
func (t *tupleReader) get(i int, key []byte) []byte {
	if h, ok := t.bucket(i); ok {
		return h.Get(key)
	}
	return t.r.Get(t.paths[i][:], key)
}

func (t *tupleReader) scan(i int, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	if h, ok := t.bucket(i); ok {
		return h.Scan(prefix, start, reverse, fn)
	}
	return t.r.Scan(t.paths[i][:], prefix, start, reverse, fn)
}

func (t *tupleReader) has(i int, key []byte) bool {
	if h, ok := t.bucket(i); ok {
		return h.Has(key)
	}
	return t.r.Has(t.paths[i][:], key)
}
