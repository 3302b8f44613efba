package engine

// The read view's cache of open buckets: a read-only BoltView keeps the
// buckets (and a cursor each) it opened, so that the reads of one pooled
// transaction (pool.go) do not walk threads/<thread>/... from the root
// again, and bounds what it keeps in bytes, forgetting the buckets used
// longest ago (trim).

import (
	"bytes"
	"hash/maphash"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// openBucket is a bucket a read-only view opened: its path is
// keys[start:end].
type openBucket struct {
	start, end int
	b          *bolt.Bucket
	// c serves every Get, Has and Scan of the bucket, made on first use:
	// a bbolt cursor is an allocation and its stack (one per tree level)
	// a few more, and a read seeks the same bucket again and again (a
	// List page reads each of a thread's buckets ten times). busy is set
	// while a Scan walks with c: a Get or a scan nested in that walk (its
	// callback reading the same bucket) takes a cursor of its own.
	c *bolt.Cursor
	// at is the key c was left at by get, with its value (nil: not
	// known, c was moved by a walk or went past an end).
	at, atVal []byte
	busy      bool
	// inline: b is stored in its parent's page (BoltView.inline).
	inline bool
	// used is the view's read (BoltView.reads) that last looked the
	// bucket up: trim keeps the buckets used last.
	used uint32
	// id tells this entry from one that later took its place in open
	// (a walk forgets what its callbacks opened, forgetWalked): a Bucket
	// handle holds it.
	id uint32
	// parent is the index in open of the bucket this one is nested in
	// (-1: a top bucket); Child trusts a remembered kid only when it is
	// this bucket's.
	parent int32
	index  int // in open
	// kids are the entries of buckets nested in this one that Child
	// looked up, by the caller's slot (1 + their index in open; 0:
	// none), so that a read of a thread's buckets finds each without the
	// hash of its whole path. A cache: trim, which moves entries, empties
	// it. (The fields are in this order so that busy, inline and used
	// share a word: the entry is 120 bytes with kids, 104 before them; 128
	// with id and parent.)
	kids [maxKids]int32
}

// maxKids is how many nested buckets an entry remembers for Child: a
// thread has six (tupleReader's bCP to bIDS).
const maxKids = 6

// cursor returns the shared cursor of e, or a fresh one while a scan holds
// it.
func (e *openBucket) cursor() (c *bolt.Cursor, shared bool) {
	if e.busy {
		return e.b.Cursor(), false
	}
	if e.c == nil {
		e.c = e.b.Cursor()
	}
	return e.c, true
}

// getSteps is how far get steps the shared cursor toward a key before it
// seeks instead. A List page reads its checkpoints' keys in order, newest
// first: the next checkpoint's header and metadata are one step back. One
// step, not more: a step that misses is wasted, and the keys of a tuple's
// blobs, one per channel, are far apart. Instructions per read on the
// bench's W1 (callgrind, GOGC=off): one step against none, R3 (a List of
// 10) -1.9%, R4 (a filtered List) -3.2%, R1 (GetTuple) -0.2%; 4 steps
// were worse than none in R3 and R1 (with the GC on, +4-8%).
const getSteps = 1

// get returns the value of key, as Bucket.Get (nil for a nested bucket's
// name), with the shared cursor c: by stepping from the key it was left
// at when key is near it, else by a seek.
//
// at is cleared before c moves and set once the move returned: a move
// that panics on a damaged page (a read may recover that itself and read
// on, and its pooled read serves the next reads) leaves c wherever the
// panic stopped it, and at kept from before made the next get step from
// there as if from at: a key of a sound page read as missing
// (TestH251GetAfterARecoveredPanicInTheSameBucket).
func (e *openBucket) get(key []byte) []byte {
	c := e.c
	if at := e.at; at != nil {
		d := bytes.Compare(key, at)
		if d == 0 {
			return e.atVal
		}
		for range getSteps {
			e.at, e.atVal = nil, nil
			var k, val []byte
			if d < 0 {
				k, val = c.Prev()
			} else {
				k, val = c.Next()
			}
			e.at, e.atVal = k, val
			if k == nil {
				return nil // past the first or last key: no key between
			}
			switch dk := bytes.Compare(key, k); {
			case dk == 0:
				return val
			case (dk > 0) != (d > 0):
				return nil // stepped over where key would be
			}
		}
	}
	e.at, e.atVal = nil, nil
	k, val := c.Seek(key)
	e.at, e.atVal = k, val
	if bytes.Equal(k, key) {
		return val
	}
	return nil
}

func (v *BoltView) bucket(p Path) *bolt.Bucket {
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
func (v *BoltView) cached(p Path) *openBucket {
	if v.open == nil {
		v.open, v.keys, v.scratch = v.openBuf[:0], v.keysBuf[:0], v.scratchBuf[:0]
	}
	v.scratch = appendPath(v.scratch[:0], p)
	if v.index != nil {
		if i, ok := v.index[maphash.Bytes(pathSeed, v.scratch)]; ok {
			if e := &v.open[i]; bytes.Equal(v.keys[e.start:e.end], v.scratch) {
				e.used = v.reads
				return e
			}
			if e := v.find(); e != nil {
				e.used = v.reads
				return e
			}
		}
	} else if e := v.find(); e != nil {
		e.used = v.reads
		return e
	}
	var b, parentBucket *bolt.Bucket
	parent := -1
	if len(p) == 1 {
		b = v.tx.Bucket(p[0])
	} else if pe := v.cached(p[:len(p)-1]); pe.b != nil {
		b, parent, parentBucket = pe.b.Bucket(p[len(p)-1]), pe.index, pe.b
	} else {
		parent = pe.index
	}
	checkDamaged(v.tx, parentBucket, b, p) // a bucket whose pages lead into a cycle (precheck_damaged.go)
	inline := b != nil && b.Root() == 0
	if inline {
		if v.inlineCost == 0 {
			v.inlineCost = v.tx.DB().Info().PageSize / 4
		}
		v.inline++
	}
	start := len(v.keys)
	v.keys = appendPath(v.keys, p)
	v.lastID++
	v.open = append(v.open, openBucket{start: start, end: len(v.keys), b: b, used: v.reads, inline: inline,
		id: v.lastID, parent: int32(parent), index: len(v.open)})
	switch {
	case v.index != nil:
		// Hashed here, not above: opening the parent may have made the
		// index. On a collision the first entry keeps the hash.
		if h := maphash.Bytes(pathSeed, v.keys[start:]); !v.has(h) {
			v.index[h] = len(v.open) - 1
		}
	case len(v.open) > linearBuckets:
		v.index = make(map[uint64]int, 2*len(v.open))
		v.reindex()
	}
	return &v.open[len(v.open)-1]
}

// reindex fills v.index with every entry of v.open: lookups trust it to
// hold them all once it exists. On a collision the first entry keeps the
// hash (the others are found linearly), as cached does.
func (v *BoltView) reindex() {
	for i := len(v.open) - 1; i >= 0; i-- {
		e := &v.open[i]
		v.index[maphash.Bytes(pathSeed, v.keys[e.start:e.end])] = i
	}
}

// has tells whether index holds hash h.
func (v *BoltView) has(h uint64) bool {
	_, ok := v.index[h]
	return ok
}

// find looks the path in v.scratch up linearly.
func (v *BoltView) find() *openBucket {
	for i := range v.open {
		if e := &v.open[i]; bytes.Equal(v.keys[e.start:e.end], v.scratch) {
			return e
		}
	}
	return nil
}

// pathSeed seeds the hashes of BoltView.index.
var pathSeed = maphash.MakeSeed()

// linearBuckets is how many open buckets a linear search takes before
// the view indexes them.
const linearBuckets = 16

// forget drops the buckets and cursors v opened (between reads: none is
// in use), keeping its transaction. With keep, the room they took stays
// for the next ones: a pooled read over more threads than it keeps
// starts over again and again, and would otherwise grow it anew each time.
func (v *BoltView) forget(keep bool) {
	v.depth = 0 // between reads no walk is under way
	clear(v.open)
	clear(v.openBuf[:])
	v.inline = 0
	if keep && v.open != nil {
		v.open, v.keys = v.open[:0], v.keys[:0]
		clear(v.index)
		return
	}
	v.open, v.keys, v.index, v.reads, v.inlineCost = nil, nil, nil, 0, 0
}

// bucketCost is about what an open bucket of a pooled read holds in heap
// besides its path and an inline bucket's copy: its entry here and in
// index, bbolt's Bucket, a cursor and its stack
// (BenchmarkPooledReadBucketMemory: 262-270 bytes a bucket of several
// pages with its path of about 25 bytes, at 1k to 16k buckets; 700 for an
// inline bucket of 640 bytes).
const bucketCost = 256

// cacheBytes estimates the heap v's open buckets hold.
func (v *BoltView) cacheBytes() int {
	return len(v.open)*bucketCost + len(v.keys) + v.inline*v.inlineCost
}

// entryBytes is e's share of cacheBytes.
func (v *BoltView) entryBytes(e *openBucket) int {
	n := bucketCost + e.end - e.start
	if e.inline {
		n += v.inlineCost
	}
	return n
}

// trim forgets the buckets used longest ago until at most limit bytes
// (cacheBytes) are left, keeping the room they took; between reads only
// (no bucket is busy). Not starting over: a pooled read over more threads
// than it keeps would open every bucket again, those of the threads it
// reads most too.
func (v *BoltView) trim(limit int) {
	if v.cacheBytes() <= limit {
		return
	}
	if limit < bucketCost {
		v.forget(true)
		v.giveBackRoom()
		return
	}
	// The buckets by last use, newest first (stamp and index in one
	// word: a plain sort), kept while they fit in limit.
	order := make([]uint64, len(v.open))
	for i := range v.open {
		order[i] = uint64(v.open[i].used)<<32 | uint64(i)
	}
	slices.Sort(order)
	keep := make([]bool, len(v.open))
	left := limit
	for _, o := range slices.Backward(order) {
		i := int(uint32(o))
		size := v.entryBytes(&v.open[i])
		if size > left {
			break
		}
		left -= size
		keep[i] = true
	}
	j, n := 0, 0
	v.inline = 0
	moved := make([]int32, len(v.open)) // new index by old, -1: forgotten
	for i := range v.open {
		if !keep[i] {
			moved[i] = -1
			continue
		}
		moved[i] = int32(j)
		e := v.open[i]
		if e.inline {
			v.inline++
		}
		if e.parent >= 0 {
			e.parent = moved[e.parent] // a parent comes before its children
		}
		// Paths move down in order: copy's overlap is safe.
		l := e.end - e.start
		copy(v.keys[n:], v.keys[e.start:e.end])
		e.start, e.end, e.index = n, n+l, j
		e.kids = [maxKids]int32{} // the indexes move: Child looks them up again
		n += l
		v.open[j] = e
		j++
	}
	clear(v.open[j:])
	v.open, v.keys = v.open[:j], v.keys[:n]
	if !v.giveBackRoom() && v.index != nil {
		clear(v.index)
		v.reindex()
	}
}

// maxRoomBuckets bounds the room (capacity) a trimmed view keeps for
// open buckets: twice the entries maxCachedBytes lets it count. Kept room
// spares the next reads growing the arrays again, but one read may open
// many buckets before its Release trims (up to maxWalkBytes' worth in a
// walk over every thread, more in one that is not a walk): the room it grew, its entries (48 bytes each), paths and
// index (a map never shrinks), is not in cacheBytes, and the pooled read
// would hold it, uncounted, for as long as it is reused.
const maxRoomBuckets = 2 * maxCachedBytes / bucketCost

// giveBackRoom reallocates open, keys and index at their size when their
// room is past maxRoomBuckets (trim), and tells whether it did (index is
// then filled).
func (v *BoltView) giveBackRoom() bool {
	if cap(v.open) <= maxRoomBuckets && cap(v.keys) <= maxRoomBuckets*32 {
		return false
	}
	v.open = slices.Clone(v.open)
	v.keys = slices.Clone(v.keys)
	if v.index != nil {
		v.index = make(map[uint64]int, 2*len(v.open))
		v.reindex()
	}
	return true
}

// maxWalkBytes is the cache size (cacheBytes) past which a walk forgets,
// after each of its callbacks, the buckets that callback opened
// (forgetWalked): a walk over every thread (Stats, Verify, GC, Export)
// opens each thread's buckets once, and kept them all until its read
// ended (289 MB for 100,000 one-checkpoint threads). Twice what a pooled
// read keeps between reads (trim), so that a read of a few threads never
// reaches it.
const maxWalkBytes = 2 * maxCachedBytes

// walkMark is where a walk's callback starts in the cache: the entries
// and path bytes after it are what the callback opened, and depth the
// walks under way outside it.
type walkMark struct{ open, keys, depth int }

// enterWalk is called before a walk (Buckets, Scan) calls its callback;
// leaveWalk after, with enterWalk's mark. leaveWalk puts depth back as
// the mark has it, not one less: a walk inside the callback that a panic
// ended never left, and a callback that recovered the panic itself (the
// store's Stats and Verify go on past a damaged thread) left depth one
// too high, so that no walk after it in that read was outermost and none
// forgot what its callbacks opened
// (TestH251WalkForgetsAfterACallbackRecoveredAPanic).
func (v *BoltView) enterWalk() walkMark {
	m := walkMark{len(v.open), len(v.keys), v.depth}
	v.depth++
	return m
}

func (v *BoltView) leaveWalk(m walkMark) {
	v.depth = m.depth
	if v.depth == 0 && len(v.open) > m.open {
		v.forgetWalked(m)
	}
}

// forgetWalked forgets the buckets the callback of an outermost walk
// opened (those after m), when the cache is past its bound (maxWalkBytes,
// or walkBytes): every thread's buckets, opened once each, would
// otherwise stay until the read ends. Safe mid-read: a handle whose entry
// is gone, or taken by another bucket, finds its bucket again by path
// (Bucket.entry), and Child trusts a remembered kid only when it is the
// parent's (openBucket.parent); nothing of a callback is busy once it
// returned.
func (v *BoltView) forgetWalked(m walkMark) {
	limit := v.walkBytes
	if limit == 0 {
		limit = maxWalkBytes
	}
	if v.tx == nil || v.tx.Writable() || v.cacheBytes() <= limit {
		return
	}
	for i := m.open; i < len(v.open); i++ {
		if v.open[i].busy {
			return
		}
	}
	for i := m.open; i < len(v.open); i++ {
		e := &v.open[i]
		if e.inline {
			v.inline--
		}
		if v.index != nil {
			// On a collision the first entry keeps the hash (cached): it is
			// dropped only when it is this one.
			if h := maphash.Bytes(pathSeed, v.keys[e.start:e.end]); v.index[h] == i {
				delete(v.index, h)
			}
		}
	}
	clear(v.open[m.open:])
	v.open, v.keys = v.open[:m.open], v.keys[:m.keys]
}
