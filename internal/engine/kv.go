package engine

// The root package reads and writes bbolt only through the two small
// interfaces in this file, so the read overlay (acknowledged writes not yet
// applied to bbolt, overlay.go) fits in front of bbolt here alone, without
// touching the code that knows checkpoints.

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Path names a bucket: the names of the buckets from the top down. What
// they mean is the root package's business.
type Path [][]byte

// ErrStop, returned by a Scan or Buckets callback, ends the walk early
// without being an error: Scan and Buckets then return nil.
var ErrStop = errors.New("ckpt: stop iteration")

// stopped turns a callback's error into the walk's: nil for ErrStop.
func stopped(err error) error {
	if err != nil && errors.Is(err, ErrStop) {
		return nil
	}
	return err
}

// Reader reads within one consistent snapshot. Slices it returns are valid
// only until the snapshot ends: copy what outlives it.
type Reader interface {
	// Get returns the value of key in the bucket at p, or nil.
	Get(p Path, key []byte) []byte
	// Scan calls fn for each key with prefix, in key order (descending when
	// reverse), until fn returns an error, which Scan returns (ErrStop ends
	// the scan with nil). Scan fails otherwise only on damage (ErrCorrupt):
	// at the first key out of order, fn having seen only the keys before
	// it, each checked against the key after it. A non-nil start bounds the first
	// key: forward scans begin at the first key >= start, reverse scans at
	// the last key < start.
	Scan(p Path, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error
	// Has reports whether key is stored in the bucket at p. Unlike Get, it
	// is also true for an empty value, which bbolt returns as nil while the
	// write transaction that stored it is open.
	Has(p Path, key []byte) bool
	// Exists reports whether the bucket at p exists.
	Exists(p Path) bool
	// Sequence returns the sequence number of the bucket at p (0 if none).
	Sequence(p Path) uint64
	// Buckets calls fn with the name of each bucket nested in the bucket at
	// p, in key order, starting after the name after (nil: from the
	// first), until fn returns an error, as Scan.
	Buckets(p Path, after []byte, fn func(name []byte) error) error
}

// FileChecker is implemented by readers over a real bbolt file, for Verify
// and Stats: what only the file itself can tell.
type FileChecker interface {
	// CheckPages runs bbolt's own consistency check (every page reachable
	// or free exactly once, keys in order) and calls fn with each problem
	// until fn returns false.
	CheckPages(fn func(error) bool)
	// FileSize returns the size of the data file and its page size.
	FileSize() (size int64, pageSize int)
}

// Writer changes data inside one write transaction.
type Writer interface {
	Reader
	// Put stores key=value, creating the buckets on p as needed.
	Put(p Path, key, value []byte) error
	// Del removes key; a missing key or bucket is not an error.
	Del(p Path, key []byte) error
	// DropBucket removes the bucket at p and all it holds; missing is fine.
	DropBucket(p Path) error
	// NextSeq returns the next number of the bucket at p's sequence.
	NextSeq(p Path) (uint64, error)
	// RaiseSeq makes the bucket at p's sequence at least n.
	RaiseSeq(p Path, n uint64) error
}

// BoltView implements Reader and Writer on a bbolt transaction.
type BoltView struct {
	tx *bolt.Tx
	// open caches, in a read-only transaction, the buckets it opened (and
	// every bucket above them: a thread's sub-buckets share one walk to the
	// thread) with a cursor for point reads: bbolt caches buckets itself
	// only in write transactions, and Bucket.Get allocates a cursor each
	// call. A read makes a handful of paths, so a list beats a map.
	open    []openBucket
	keys    []byte // the paths of open, encoded (appendPath) end to end
	scratch []byte // the path being looked up, encoded
	// index finds an entry of open by the hash of its encoded path once
	// open is longer than a point read's few paths: a pooled read
	// (pool.go) keeps its buckets from one read to the next, for many
	// threads. A hash, not the path, so that indexing allocates nothing
	// per bucket; lookups compare the paths (a collision is looked up
	// linearly).
	index map[uint64]int
	// reads counts the reads a pooled view served (PooledRead): the
	// stamp of openBucket.used. 32 bits: a pooled read lives 2 s.
	reads uint32
	// inline counts the open buckets that are inline (stored in their
	// parent's page): bbolt copies such a bucket's value, its keys and
	// values, when it is not 8-byte aligned, so each is counted at the
	// inline bound inlineCost (a quarter page) in cacheBytes.
	inline, inlineCost int
	// Room for a point read's paths inside the view's own allocation.
	openBuf    [8]openBucket
	keysBuf    [512]byte
	scratchBuf [128]byte
	// made caches, in a write transaction, the buckets Put and the
	// sequences opened or created, by encoded path: a replayed batch
	// writes the same few buckets of a thread again and again, and each
	// bbolt lookup on the way copies the name. DropBucket clears it (a
	// handle of a deleted bucket must not be written).
	made map[string]*bolt.Bucket
	// maxLen, in a read-only view, is the size of the file's data: no
	// key or value is longer. bbolt takes their lengths from the leaf
	// elements and trusts them, so a damaged length makes a slice that
	// reaches past the mapped file, which a caller that copies it out
	// allocates for whole (gigabytes) before the copy faults
	// (TestDamagedValueLengthIsCorruptNotHuge). Zero: not checked.
	maxLen int
	// walkBytes, when not zero, is the cache size (cacheBytes) past which
	// a walk's callback forgets the buckets it opened (forgetWalked;
	// maxWalkBytes when zero, tests lower it). depth counts the walks
	// (Buckets, Scan) under way: only the outermost one forgets, so that
	// a thread's reads inside its callback keep their buckets.
	walkBytes, depth int
	// valuesOnly makes a Scan that meets a nested bucket ErrCorrupt
	// (Options.ScanValuesOnly): a store whose scanned buckets hold values
	// only then sees a damaged page id naming another bucket's page (a
	// thread's, whose entries are its buckets) in place of a child. Passed
	// over, that page hid the child it replaced: the walk went on into
	// the child before, and a List read older checkpoints as the newest.
	valuesOnly bool
	// lastID numbers the entries of open (openBucket.id).
	lastID uint32
	// added bounds the keys this view's writes added to the transaction
	// (a Put's key, and a bucket for each name of its path): dropNested
	// counts them in what a bucket may hold, since bbolt holds them in
	// memory, not yet in the file's pages.
	added int64
	// writePaths checks, in a write transaction, the pages a write's
	// keys lie on before bbolt writes them (write_path.go).
	writePaths *writePaths
	// wrote is set by the first change, so the commit loop can tell a
	// failure before any change (the op alone fails) from one after (the
	// transaction must be rolled back).
	wrote bool
}

func (v *BoltView) walk(p Path) *bolt.Bucket {
	b := v.tx.Bucket(p[0])
	for _, name := range p[1:] {
		if b == nil {
			return nil
		}
		b = b.Bucket(name)
	}
	return b
}

func (v *BoltView) Get(p Path, key []byte) []byte {
	if len(p) == 0 {
		return nil
	}
	if v.tx.Writable() {
		if b := v.walk(p); b != nil {
			return b.Get(key)
		}
		return nil
	}
	return v.fit(v.cached(p).lookup(key))
}

// fit returns val, or panics (a read's guard makes it ErrCorrupt, as
// bbolt's panics on a damaged page) when it is longer than the file's
// data (maxLen).
func (v *BoltView) fit(val []byte) []byte {
	if v.maxLen > 0 && len(val) > v.maxLen {
		panic(errTooLong(len(val), v.maxLen))
	}
	return val
}

func errTooLong(n, size int) error {
	return fmt.Errorf("%w: a key or value of %d bytes in a file of %d (a damaged page element)", ErrCorrupt, n, size)
}

// lookup is Get in the open bucket e (a read-only view's).
func (e *openBucket) lookup(key []byte) []byte {
	if e.b == nil {
		return nil
	}
	c, shared := e.cursor()
	if shared {
		return e.get(key)
	}
	// What Bucket.Get does, on a cursor of its own (a walk holds the
	// shared one): Seek gives a nested bucket's key with a nil value.
	if k, val := c.Seek(key); bytes.Equal(k, key) {
		return val
	}
	return nil
}

// scanCursor returns the cursor for a walk of the bucket at p (nil if
// missing) and the index in the cache of the entry whose shared cursor it
// holds (-1: none): the walk marks it busy, and release frees it. An
// index, not a pointer: the walk's callback may open buckets and so move
// the cache.
func (v *BoltView) scanCursor(p Path) (*bolt.Bucket, *bolt.Cursor, int) {
	if len(p) == 0 {
		return nil, nil, -1
	}
	if v.tx.Writable() {
		b := v.walk(p)
		if b == nil {
			return nil, nil, -1
		}
		return b, b.Cursor(), -1
	}
	return v.cached(p).scanCursor()
}

// scanCursor is BoltView.scanCursor in the open bucket e (a read-only
// view's).
func (e *openBucket) scanCursor() (*bolt.Bucket, *bolt.Cursor, int) {
	if e.b == nil {
		return nil, nil, -1
	}
	c, shared := e.cursor()
	if !shared {
		return e.b, c, -1
	}
	e.busy = true
	e.at, e.atVal = nil, nil // the walk moves c
	return e.b, c, e.index
}

// release ends a walk that scanCursor began on a shared cursor.
func (v *BoltView) release(i int) {
	if i >= 0 {
		v.open[i].busy = false
	}
}

func (v *BoltView) Exists(p Path) bool { return v.bucket(p) != nil }

func (v *BoltView) Sequence(p Path) uint64 {
	if b := v.bucket(p); b != nil {
		return b.Sequence()
	}
	return 0
}

func (v *BoltView) Has(p Path, key []byte) bool {
	b, c, e := v.scanCursor(p)
	return v.hasIn(b, c, e, key)
}

// hasIn is Has in the bucket b, walked with c (scanCursor's).
func (v *BoltView) hasIn(b *bolt.Bucket, c *bolt.Cursor, e int, key []byte) bool {
	if b == nil {
		return false
	}
	k, _ := c.Seek(key)
	v.release(e)
	return k != nil && bytes.Equal(k, key)
}

func (v *BoltView) Buckets(p Path, after []byte, fn func(name []byte) error) error {
	b := v.bucket(p)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	k, val := c.First()
	if after != nil {
		if k, val = c.Seek(after); k != nil && bytes.Equal(k, after) {
			k, val = c.Next()
		} else if k != nil && bytes.Compare(k, after) > 0 {
			// Past names the child before holds, if a branch key is
			// lowered (checkForwardSeek; one raised is met below, as a
			// name out of order).
			if err := checkForwardSeek(c, after, k); err != nil {
				return err
			}
		}
	}
	// In a read-only transaction a cursor gives a nil value for a nested
	// bucket only (a stored empty value is an empty slice into its page),
	// so the bucket need not be opened to tell; a write transaction's
	// nodes may hold an empty value as nil.
	writable := v.tx.Writable()
	// A name is handed to fn only once the key after it (a name or a
	// value) is seen to sort after it, and the walk ends with ErrCorrupt
	// at the first key that does not: a key out of order is only in a
	// damaged page (a damaged bucket name), and which of the two is the
	// damaged one cannot be told. So fn sees exactly the names a walk of
	// the sound page gives, in its order, up to the damage. Passed over,
	// the walk went on and fn saw the names after the damaged one (in its
	// place) before the error, and a name raised above those after it
	// was handed over itself (TestWalksStopAtTheFirstKeyOutOfPlace). The
	// names handed over rise, so a walk that goes on after the last name
	// it read always goes forward (TestThreadNamesOutOfOrderEndEveryWalk:
	// Export of such a file never returned).
	if k != nil && after != nil && bytes.Compare(k, after) <= 0 {
		return errNamesOutOfOrder
	}
	for k != nil {
		if v.maxLen > 0 && len(k) > v.maxLen {
			return errTooLong(len(k), v.maxLen)
		}
		nk, nval := c.Next()
		if nk != nil && bytes.Compare(nk, k) <= 0 {
			return errNamesOutOfOrder
		}
		if val == nil && (!writable || b.Bucket(k) != nil) { // a bucket, not a value
			m := v.enterWalk()
			err := fn(k)
			v.leaveWalk(m)
			if err != nil {
				return stopped(err)
			}
		}
		k, val = nk, nval
	}
	return nil
}

// CheckPages runs bbolt's page check. What it leaves out, a branch key
// other than its child page's first key, is checked before it by the
// page walk every caller runs first (TouchAll's checkTx,
// precheck_keys.go), on the same transaction's view of the file.
func (v *BoltView) CheckPages(fn func(error) bool) {
	errs := v.tx.Check()
	for err := range errs {
		if !fn(err) {
			for range errs { // let the checker finish
			}
			return
		}
	}
}

func (v *BoltView) FileSize() (int64, int) { return v.tx.Size(), v.tx.DB().Info().PageSize }

func (v *BoltView) Scan(p Path, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	b, c, e := v.scanCursor(p)
	return v.scanIn(b, c, e, prefix, start, reverse, fn)
}

// scanIn is Scan in the bucket b, walked with c (scanCursor's; e the
// entry whose shared cursor c is, or -1).
func (v *BoltView) scanIn(b *bolt.Bucket, c *bolt.Cursor, e int, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	if b == nil {
		return nil
	}
	defer v.release(e)
	var k, val []byte
	// from and below bound what the scan may yield: a key the cursor
	// steps to past them is out of order, which only a damaged page
	// holds (bbolt keeps no checksum; its binary search trusts the
	// order). Such a key is passed over, and the scan ends with
	// ErrCorrupt: every key yielded is at or after the one sought, so a
	// walk that seeks again from a key it read always goes forward
	// (TestKeysOutOfOrderEndEveryWalk: Verify of such a file never
	// returned).
	var from, below []byte
	switch {
	case !reverse && start != nil && bytes.Compare(start, prefix) > 0:
		from = start
		k, val = c.Seek(start)
	case !reverse:
		from = prefix
		k, val = c.Seek(prefix)
	default:
		bound := start
		var end [64]byte // the prefix's end, without an allocation when short
		if bound == nil || !bytes.HasPrefix(bound, prefix) && bytes.Compare(bound, prefix) > 0 {
			bound = appendPrefixEnd(end[:0], prefix)
		}
		below = bound
		if bound == nil {
			k, val = c.Last()
		} else if k, _ = c.Seek(bound); k != nil && bytes.Compare(k, bound) < 0 {
			// A seek lands at or after its key unless a branch key is
			// damaged: raised, it sends the seek into the child before,
			// which holds nothing at or above the bound, and the cursor
			// steps on to the next child's first key, below the bound.
			// Stepping back from there walks the child before and passes
			// over every key of that next child below the bound, with
			// nothing out of order to notice (a List with Before read a
			// shorter history as the whole). Nothing is yielded.
			return fmt.Errorf("%w: a seek landed below its key in a bucket (a damaged branch page)", ErrCorrupt)
		} else if k == nil && v.tx.Writable() {
			// Past the last key. A write transaction's nodes may be
			// empty (a Delete), which only Last steps over.
			k, val = c.Last()
		} else {
			if k != nil {
				// The key a seek lands on is the least at or above the
				// bound only in a sound page: one damaged above the
				// keys after it draws bbolt's binary search to itself,
				// and stepping back from it passed over the keys
				// between it and the bound. Its successor tells.
				nk, _ := c.Next()
				if nk != nil && bytes.Compare(nk, k) <= 0 {
					return fmt.Errorf("%w: keys out of order in a bucket (a damaged page)", ErrCorrupt)
				}
				if v.tx.Writable() {
					c.Seek(bound) // back to k, over any node emptied (back)
				} else if nk != nil {
					c.Prev() // back to k (a Next past the last key stays on it)
				}
			}
			// The key before the bound. Past the last key, a Seek
			// leaves the cursor after the last leaf's last element, so
			// that Prev is the last key: no second descent from the
			// root, as Last makes (TestReverseScanPastTheLastKey).
			k, val = back(c, b, k)
		}
	}
	if !reverse && k != nil && len(from) > 0 {
		if err := checkForwardSeek(c, from, k); err != nil {
			return err
		}
	}
	// A key is handed to fn only once the key the cursor steps to after
	// it is seen to sort after it (before it, walking back), as Buckets
	// does: the scan ends with ErrCorrupt at the first key out of order,
	// and fn has seen exactly the keys a scan of the sound page gives, up
	// to the damage. One step more than fn asks for when it stops the
	// scan (ErrStop).
	for k != nil && bytes.HasPrefix(k, prefix) {
		if v.maxLen > 0 && (len(k) > v.maxLen || len(val) > v.maxLen) {
			return errTooLong(max(len(k), len(val)), v.maxLen)
		}
		if outOfPlace(k, from, below, reverse) {
			return errKeysOutOfOrder
		}
		nk, nval := step(c, b, k, reverse)
		if nk != nil {
			if d := bytes.Compare(nk, k); d == 0 || (d < 0) != reverse {
				return errKeysOutOfOrder
			}
		}
		if val == nil && b.Bucket(k) != nil {
			if v.valuesOnly {
				return fmt.Errorf("%w: a nested bucket %q met in a scan of values (a damaged page id)", ErrCorrupt, k)
			}
		} else {
			m := v.enterWalk()
			err := fn(k, val)
			v.leaveWalk(m)
			if err != nil {
				return stopped(err)
			}
		}
		k, val = nk, nval
	}
	return checkScanEnd(c, b, k, prefix, reverse)
}

// prefixEnd returns the smallest key greater than every key with prefix, or
// nil when there is none (empty or all-0xff prefix).
func prefixEnd(prefix []byte) []byte { return appendPrefixEnd(nil, prefix) }

// appendPrefixEnd is prefixEnd into dst's room (dst[:0] is overwritten).
func appendPrefixEnd(dst, prefix []byte) []byte {
	end := append(dst[:0], prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// NewBoltView returns a view of tx.
func NewBoltView(tx *bolt.Tx) *BoltView { return &BoltView{tx: tx, maxLen: dataSize(tx)} }

// dataSize is BoltView.maxLen for tx: the size of the file's data in a
// read-only transaction, 0 (not checked) in a write transaction, whose
// new values need not fit the file as it was.
func dataSize(tx *bolt.Tx) int {
	if tx.Writable() {
		return 0
	}
	return int(tx.Size())
}

// readViews keeps the views of read transactions (Engine.View) from one
// read to the next: a view is a kilobyte of cache room, made and cleared
// for every GetTuple otherwise.
var readViews = sync.Pool{New: func() any { return new(BoltView) }}

// readView returns a pooled view of the read transaction tx; recycle it
// once the read has ended with it.
func readView(tx *bolt.Tx) *BoltView {
	v := readViews.Get().(*BoltView)
	v.tx, v.maxLen = tx, dataSize(tx)
	return v
}

// recycle forgets the transaction, its buckets and cursors (they point
// into pages the file reuses) and returns v to the pool.
func (v *BoltView) recycle() {
	v.forget(false)
	v.tx, v.scratch, v.wrote, v.walkBytes, v.valuesOnly = nil, nil, false, 0, false
	readViews.Put(v)
}

// Tx returns the transaction under v.
func (v *BoltView) Tx() *bolt.Tx { return v.tx }

// Wrote reports whether a change was made through v: the commit loop
// tells a failure before any change (the op alone fails) from one after
// (the transaction must be rolled back).
func (v *BoltView) Wrote() bool { return v.wrote }

// SetWrote sets what Wrote reports: false before each op of a group, true
// when an op panicked (its changes are unknown: roll back).
func (v *BoltView) SetWrote(wrote bool) { v.wrote = wrote }
