package engine

// Buckets a read looks up once. Every Get, Has and Scan of a read-only
// BoltView finds its bucket by path in the view's cache (cached: the path
// encoded, hashed, compared), about 170 instructions a call. A List page
// reads a thread's six buckets again and again (R4, a filtered List of a
// W1 thread: 175 calls), and those lookups were 5% of its instructions;
// a Bucket is the lookup made once.

import (
	"bytes"
	"encoding/binary"
)

// Bucket is a bucket of a read-only BoltView, looked up once (Bucket):
// its Get, Has and Scan are the view's on that bucket. It is valid for the
// read it was taken in (the view forgets its buckets between reads); a
// missing bucket reads as empty, as through the view.
type Bucket struct {
	v  *BoltView
	i  int    // the entry in v.open: an index, not a pointer (opening another bucket may move the entries)
	id uint32 // the entry's id: a walk may forget it, and another bucket take its place (forgetWalked)
	// p is the bucket's path, to find it again once forgotten: the caller
	// keeps it unchanged while it uses the handle (tupleReader's paths
	// change with its thread, when it drops its handles).
	p Path
}

// BucketOpener is implemented by the readers that hand out a Bucket: a
// read-only BoltView, which is what a read gets while the overlay is
// empty (PooledRead.Reader). A reader that does not (an overlay's view, a
// write transaction) is read by path.
type BucketOpener interface {
	// Bucket returns the bucket at p, false when the reader reads it only
	// by path.
	Bucket(p Path) (Bucket, bool)
}

// Bucket implements BucketOpener for a read-only view.
func (v *BoltView) Bucket(p Path) (Bucket, bool) {
	if len(p) == 0 || v.tx.Writable() {
		return Bucket{}, false
	}
	return v.handle(v.cached(p), p), true
}

// handle returns the handle of the entry e, at path p.
func (v *BoltView) handle(e *openBucket, p Path) Bucket {
	return Bucket{v: v, i: e.index, id: e.id, p: p}
}

// entry returns b's entry, marked used by the view's current read as a
// lookup by path marks it (trim keeps the buckets used last); found again
// by path when a walk forgot it (forgetWalked).
func (b Bucket) entry() *openBucket {
	v := b.v
	if b.i < len(v.open) {
		if e := &v.open[b.i]; e.id == b.id {
			e.used = v.reads
			return e
		}
	}
	return v.cached(b.p)
}

// Child returns the bucket at p, whose parent must be b's bucket (p is
// b's path and one name more), as the view's Bucket(p) would. slot (0 to
// maxKids-1; any other is looked up by path every time) is the caller's
// number for that name under b: b's entry remembers the child's entry in
// it, so that a read of a thread's six buckets hashes the thread's path
// once, not each bucket's. A slot found holding another name (or nothing)
// looks the path up, as Bucket does.
func (b Bucket) Child(p Path, slot int) Bucket {
	v := b.v
	if slot < 0 || slot >= maxKids {
		return v.handle(v.cached(p), p)
	}
	name := p[len(p)-1]
	pe := b.entry()
	pi := pe.index
	n := pe.end - pe.start + pathNameCost + len(name) // the child's encoded path
	// The entry remembered may since have been forgotten by a walk, and
	// another bucket taken its place: trusted when it is pe's child of
	// that name.
	if k := int(pe.kids[slot]); k > 0 && k <= len(v.open) {
		if e := &v.open[k-1]; int(e.parent) == pi && e.end-e.start == n && bytes.Equal(v.keys[e.end-len(name):e.end], name) {
			e.used = v.reads
			return v.handle(e, p)
		}
	}
	e := v.cached(p) // may move the entries: pe is not used after it
	// Remembered only when e's path is b's and one name more, that name:
	// the slot's entry is then told by its parent, length and last name.
	if pe := &v.open[pi]; isChildPath(v.keys[e.start:e.end], v.keys[pe.start:pe.end], name) {
		pe.kids[slot] = int32(e.index + 1)
	}
	return v.handle(e, p)
}

// isChildPath tells whether the encoded path child is the encoded path
// parent and name.
func isChildPath(child, parent, name []byte) bool {
	return len(child) == len(parent)+pathNameCost+len(name) && bytes.HasPrefix(child, parent) &&
		child[len(parent)] == ovChildTag && int(binary.BigEndian.Uint16(child[len(parent)+1:])) == len(name) &&
		bytes.Equal(child[len(parent)+pathNameCost:], name)
}

// pathNameCost is what appendPath adds to a path besides a name: its tag
// and length.
const pathNameCost = 3

// Get is BoltView.Get in b.
func (b Bucket) Get(key []byte) []byte { return b.v.fit(b.entry().lookup(key)) }

// Has is BoltView.Has in b.
func (b Bucket) Has(key []byte) bool {
	bb, c, e := b.entry().scanCursor()
	return b.v.hasIn(bb, c, e, key)
}

// Scan is BoltView.Scan in b.
func (b Bucket) Scan(prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	bb, c, e := b.entry().scanCursor()
	return b.v.scanIn(bb, c, e, prefix, start, reverse, fn)
}
