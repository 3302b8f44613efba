package ckpt

// The store reads and writes bbolt only through the two small interfaces in
// this file. Reason: a write-ahead log with a read overlay (acknowledged
// writes not yet applied to bbolt) may later sit in front of bbolt, and it
// must fit here alone, without touching the code that knows checkpoints.

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// reader reads within one consistent snapshot. Slices it returns are valid
// only until the snapshot ends: copy what outlives it.
type reader interface {
	// get returns the value of key in the bucket at p, or nil.
	get(p bucketPath, key []byte) []byte
	// scan calls fn for each key with prefix, in key order (descending when
	// reverse), until fn returns false. A non-nil start bounds the first
	// key: forward scans begin at the first key >= start, reverse scans at
	// the last key < start.
	scan(p bucketPath, prefix, start []byte, reverse bool, fn func(k, v []byte) bool)
	// has reports whether key is stored in the bucket at p. Unlike get, it
	// is also true for an empty value, which bbolt returns as nil while the
	// write transaction that stored it is open.
	has(p bucketPath, key []byte) bool
	// exists reports whether the bucket at p exists.
	exists(p bucketPath) bool
	// sequence returns the sequence number of the bucket at p (0 if none).
	sequence(p bucketPath) uint64
	// buckets calls fn with the name of each bucket nested in the bucket at
	// p, in key order, starting after the name after (nil: from the
	// first), until fn returns false.
	buckets(p bucketPath, after []byte, fn func(name []byte) bool)
}

// fileChecker is implemented by readers over a real bbolt file, for Verify
// and Stats: what only the file itself can tell.
type fileChecker interface {
	// checkPages runs bbolt's own consistency check (every page reachable
	// or free exactly once, keys in order) and calls fn with each problem
	// until fn returns false.
	checkPages(fn func(error) bool)
	// fileSize returns the size of the data file and its page size.
	fileSize() (size int64, pageSize int)
}

// writer changes data inside one write transaction.
type writer interface {
	reader
	// put stores key=value, creating the buckets on p as needed.
	put(p bucketPath, key, value []byte) error
	// del removes key; a missing key or bucket is not an error.
	del(p bucketPath, key []byte) error
	// dropBucket removes the bucket at p and all it holds; missing is fine.
	dropBucket(p bucketPath) error
	// nextSeq returns the next number of the bucket at p's sequence.
	nextSeq(p bucketPath) (uint64, error)
	// raiseSeq makes the bucket at p's sequence at least n.
	raiseSeq(p bucketPath, n uint64) error
}

// boltView implements reader and writer on a bbolt transaction.
type boltView struct {
	tx *bolt.Tx
	// open caches, in a read-only transaction, the buckets it opened (and
	// every bucket above them: a thread's sub-buckets share one walk to the
	// thread) with a cursor for point reads: bbolt caches buckets itself
	// only in write transactions, and Bucket.Get allocates a cursor each
	// call. A read makes a handful of paths, so a list beats a map.
	open    []openBucket
	keys    []byte // the paths of open, encoded (appendOvPath) end to end
	scratch []byte // the path being looked up, encoded
	// Room for a point read's paths inside the view's own allocation.
	openBuf    [8]openBucket
	keysBuf    [512]byte
	scratchBuf [128]byte
	// wrote is set by the first change, so the commit loop can tell a
	// failure before any change (the op alone fails) from one after (the
	// transaction must be rolled back).
	wrote bool
}

// openBucket is a bucket a read-only view opened: its path is
// keys[start:end].
type openBucket struct {
	start, end int
	b          *bolt.Bucket
	c          *bolt.Cursor // for get, made on first use; scans make their own
}

func (v *boltView) bucket(p bucketPath) *bolt.Bucket {
	if len(p) == 0 {
		return nil
	}
	if v.tx.Writable() {
		return v.walk(p)
	}
	return v.cached(p).b
}

// cached returns the cache entry of the bucket at p (b nil if missing),
// opening it from its parent's entry.
func (v *boltView) cached(p bucketPath) *openBucket {
	if v.open == nil {
		v.open, v.keys, v.scratch = v.openBuf[:0], v.keysBuf[:0], v.scratchBuf[:0]
	}
	v.scratch = appendOvPath(v.scratch[:0], p)
	for i := range v.open {
		if e := &v.open[i]; bytes.Equal(v.keys[e.start:e.end], v.scratch) {
			return e
		}
	}
	var b *bolt.Bucket
	if len(p) == 1 {
		b = v.tx.Bucket(p[0])
	} else if parent := v.cached(p[:len(p)-1]).b; parent != nil {
		b = parent.Bucket(p[len(p)-1])
	}
	start := len(v.keys)
	v.keys = appendOvPath(v.keys, p)
	v.open = append(v.open, openBucket{start: start, end: len(v.keys), b: b})
	return &v.open[len(v.open)-1]
}

func (v *boltView) walk(p bucketPath) *bolt.Bucket {
	b := v.tx.Bucket(p[0])
	for _, name := range p[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket(name)
	}
	return b
}

func (v *boltView) get(p bucketPath, key []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	if v.tx.Writable() {
		if b := v.walk(p); b != nil {
			return b.Get(key)
		}
		return nil
	}
	e := v.cached(p)
	if e.b == nil {
		return nil
	}
	if e.c == nil {
		e.c = e.b.Cursor()
	}
	// What Bucket.Get does, on a reused cursor: Seek gives a nested
	// bucket's key with a nil value.
	if k, val := e.c.Seek(key); bytes.Equal(k, key) {
		return val
	}
	return nil
}

func (v *boltView) exists(p bucketPath) bool { return v.bucket(p) != nil }

func (v *boltView) sequence(p bucketPath) uint64 {
	if b := v.bucket(p); b != nil {
		return b.Sequence()
	}
	return 0
}

func (v *boltView) has(p bucketPath, key []byte) bool {
	b := v.bucket(p)
	if b == nil {
		return false
	}
	k, _ := b.Cursor().Seek(key)
	return k != nil && bytes.Equal(k, key)
}

func (v *boltView) buckets(p bucketPath, after []byte, fn func(name []byte) bool) {
	b := v.bucket(p)
	if b == nil {
		return
	}
	c := b.Cursor()
	k, val := c.First()
	if after != nil {
		if k, val = c.Seek(after); k != nil && bytes.Equal(k, after) {
			k, val = c.Next()
		}
	}
	for ; k != nil; k, val = c.Next() {
		if val != nil || b.Bucket(k) == nil {
			continue // a value, not a bucket
		}
		if !fn(k) {
			return
		}
	}
}

func (v *boltView) checkPages(fn func(error) bool) {
	errs := v.tx.Check()
	for err := range errs {
		if !fn(err) {
			for range errs { // let the checker finish
			}
			return
		}
	}
}

func (v *boltView) fileSize() (int64, int) { return v.tx.Size(), v.tx.DB().Info().PageSize }

func (v *boltView) scan(p bucketPath, prefix, start []byte, reverse bool, fn func(k, v []byte) bool) {
	b := v.bucket(p)
	if b == nil {
		return
	}
	c := b.Cursor()
	var k, val []byte
	switch {
	case !reverse && start != nil && bytes.Compare(start, prefix) > 0:
		k, val = c.Seek(start)
	case !reverse:
		k, val = c.Seek(prefix)
	default:
		bound := start
		if bound == nil || !bytes.HasPrefix(bound, prefix) && bytes.Compare(bound, prefix) > 0 {
			bound = prefixEnd(prefix)
		}
		if bound == nil {
			k, val = c.Last()
		} else if k, val = c.Seek(bound); k == nil {
			k, val = c.Last()
		} else {
			k, val = c.Prev()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, val = step(c, reverse) {
		if val == nil && b.Bucket(k) != nil {
			continue // nested bucket, not a value
		}
		if !fn(k, val) {
			return
		}
	}
}

func step(c *bolt.Cursor, reverse bool) ([]byte, []byte) {
	if reverse {
		return c.Prev()
	}
	return c.Next()
}

// prefixEnd returns the smallest key greater than every key with prefix, or
// nil when there is none (empty or all-0xff prefix).
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func (v *boltView) mustBucket(p bucketPath) (*bolt.Bucket, error) {
	b, err := v.tx.CreateBucketIfNotExists(p[0])
	for _, name := range p[1:] {
		if err != nil {
			break
		}
		b, err = b.CreateBucketIfNotExists(name)
	}
	if err != nil {
		return nil, fmt.Errorf("ckpt: open bucket: %w", err)
	}
	return b, nil
}

func (v *boltView) put(p bucketPath, key, value []byte) error {
	v.wrote = true
	b, err := v.mustBucket(p)
	if err != nil {
		return err
	}
	return b.Put(key, value)
}

func (v *boltView) del(p bucketPath, key []byte) error {
	b := v.bucket(p)
	if b == nil {
		return nil
	}
	v.wrote = true
	return b.Delete(key)
}

func (v *boltView) dropBucket(p bucketPath) error {
	if b := v.bucket(p); b != nil {
		v.wrote = true
		if err := dropNested(b); err != nil {
			return err
		}
	}
	var err error
	if len(p) == 1 {
		v.wrote = true
		err = v.tx.DeleteBucket(p[0])
	} else if parent := v.bucket(p[:len(p)-1]); parent != nil {
		v.wrote = true
		err = parent.DeleteBucket(p[len(p)-1])
	}
	if errors.Is(err, berrors.ErrBucketNotFound) {
		return nil
	}
	return err
}

// dropNested deletes the buckets nested in b, deepest first, naming them
// all before deleting any. bbolt's DeleteBucket deletes a bucket's nested
// buckets while its cursor walks them; once the bucket was changed in the
// same transaction (its leaf is a node in memory), each deletion shifts the
// node under the cursor, which then skips the next nested bucket: that
// bucket's pages were neither reachable nor freed for good (the page leak
// of a failed import: the applier replays the import and its undo in one
// transaction). With no nested buckets left, DeleteBucket has none to skip.
func dropNested(b *bolt.Bucket) error {
	var names [][]byte
	_ = b.ForEachBucket(func(k []byte) error {
		names = append(names, bytes.Clone(k))
		return nil
	})
	for _, name := range names {
		if err := dropNested(b.Bucket(name)); err != nil {
			return err
		}
		if err := b.DeleteBucket(name); err != nil {
			return err
		}
	}
	return nil
}

func (v *boltView) nextSeq(p bucketPath) (uint64, error) {
	v.wrote = true
	b, err := v.mustBucket(p)
	if err != nil {
		return 0, err
	}
	return b.NextSequence()
}

func (v *boltView) raiseSeq(p bucketPath, n uint64) error {
	v.wrote = true
	b, err := v.mustBucket(p)
	if err != nil {
		return err
	}
	if b.Sequence() >= n {
		return nil
	}
	return b.SetSequence(n)
}

// delAll deletes keys from the bucket at p and returns how many it
// deleted before any error. Callers collect keys first and delete after
// their scan: a bbolt cursor must not walk a bucket that is changing.
func delAll(w writer, p bucketPath, keys [][]byte) (int, error) {
	for i, k := range keys {
		if err := w.del(p, k); err != nil {
			return i, err
		}
	}
	return len(keys), nil
}

// deleteRange deletes up to limit keys with prefix from the bucket at p,
// skipping those keep reports (nil keeps none), and adds their sizes to
// *freed. complete is false when deletable keys remain past the limit.
func deleteRange(w writer, p bucketPath, prefix []byte, limit int, keep func(k []byte) bool, freed *int64) (deleted int, complete bool, err error) {
	var dead [][]byte
	complete = true
	w.scan(p, prefix, nil, false, func(k, v []byte) bool {
		if keep != nil && keep(k) {
			return true
		}
		if len(dead) >= limit {
			complete = false
			return false
		}
		dead = append(dead, bytes.Clone(k))
		*freed += int64(len(k) + len(v))
		return true
	})
	deleted, err = delAll(w, p, dead)
	return deleted, complete, err
}
