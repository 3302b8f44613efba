package engine

// The read side of the overlay (overlay.go): a View reads a tree of
// entries on top of a bbolt snapshot, so that a key the tree changed reads
// as the tree says and every other key as bbolt says.

import (
	"bytes"

	"github.com/tidwall/btree"
	bolt "go.etcd.io/bbolt"
)

// View reads an overlay tree on top of a base reader (a bbolt snapshot
// that holds at most the groups the tree holds).
type View struct {
	tree  *Tree
	base  Reader
	pivot ovItem
	// hint is where the last lookup ended in tree (tidwall/btree's path
	// hint): an op's reads fall near each other (one thread's buckets,
	// which sort together), so the next lookup mostly checks the
	// hinted slot and its neighbour per level instead of a binary search
	// of each node. Only a guess: a wrong one costs the search it saves.
	hint btree.PathHint
	buf  []byte
	// kbuf holds the composite key of a Get or Has, which the views below
	// look up as it is (get): apart from buf, which state reuses.
	kbuf []byte
	// states caches state by encoded path: a group or a read asks about
	// the same few buckets again and again. The commit loop's views use
	// their tree's cache (Tree.states); a reader's starts empty.
	states map[string]ovState
	// free holds the cursors of ended scans for the next ones (a pooled
	// read's view scans three times a GetTuple): a cursor, its prefix and
	// its bound callback are then made once per view, not per scan.
	// Nested scans (a callback that scans) take one each.
	free []*ovCursor
	// loop: the commit loop's view. While its tree holds no bucket entry
	// it asks its base for a bucket's state, whose own cache answers (the
	// tree below's, or the bbolt view's open buckets), instead of caching
	// the state again per tree (a group's scratch tree lives for one
	// group). A reader's view caches as before.
	loop bool
}

type ovState struct{ exists, base bool }

// maxViewStates bounds a reader's view's states: a walk over every thread
// asks about each thread's buckets once, and its answers, a path and a
// map entry each (about 100 bytes), were kept until the snapshot changed.
// Past the bound the cache starts over (it only saves walks of the tree);
// the commit loop's views (loop) cache in their tree, which lives for a
// group or until the applier prunes it.
const maxViewStates = 4096

// NewView returns a reader's view of tree (a frozen copy: readers must not
// share its bucket-state cache) on top of base.
func NewView(tree *Tree, base Reader) *View { return &View{tree: tree, base: base} }

// LoopView returns the commit loop's view of t on top of base: it shares
// t's bucket-state cache, so only the goroutine that changes t may use it.
func (t *Tree) LoopView(base Reader) *View {
	return &View{tree: t, base: base, states: t.states, loop: true}
}

// aim makes v the commit loop's view of t on top of base (LoopView),
// keeping its buffers: the commit loop re-aims the same views for every
// group.
func (v *View) aim(t *Tree, base Reader) {
	*v = View{tree: t, base: base, states: t.states, loop: true, buf: v.buf[:0], kbuf: v.kbuf[:0], free: v.free}
}

// drop lets go of v's tree and base (their transaction ends), keeping its
// buffers for the next aim.
func (v *View) drop() { *v = View{buf: v.buf[:0], kbuf: v.kbuf[:0], free: v.free} }

// reaim points a reader's view at tree over base, keeping its buffers and
// free cursors (a pooled read's view, when the snapshot changes).
func (v *View) reaim(tree *Tree, base Reader, states map[string]ovState) {
	*v = View{tree: tree, base: base, buf: v.buf[:0], kbuf: v.kbuf[:0], states: states, free: v.free}
}

// TxOf returns the bbolt transaction under a reader, if any.
func TxOf(r Reader) *bolt.Tx {
	switch v := r.(type) {
	case *BoltView:
		return v.tx
	case *View:
		return TxOf(v.base)
	case TxUnderlying:
		return TxOf(v.Underlying())
	}
	return nil
}

// TxUnderlying is a Reader the store wraps around the engine's (one that
// hides part of the file): TxOf looks beneath it.
type TxUnderlying interface {
	Underlying() Reader
}

var _ Reader = (*View)(nil)

// checkPages and fileSize pass through to the file (Verify, Stats): the
// overlay's entries are checked once applied.
func (v *View) CheckPages(fn func(error) bool) {
	if fc, ok := v.base.(FileChecker); ok {
		fc.CheckPages(fn)
	}
}

func (v *View) FileSize() (int64, int) {
	if fc, ok := v.base.(FileChecker); ok {
		return fc.FileSize()
	}
	return 0, 0
}

func (v *View) lookup(key []byte) *ovItem {
	v.pivot.key = key
	it, _ := v.tree.GetHint(&v.pivot, &v.hint)
	return it
}

// state tells whether the bucket at p exists and whether the base's content
// at p still counts (no bucket on p was dropped or created in the overlay).
func (v *View) state(p Path) (exists, baseCounts bool) {
	if len(p) == 0 {
		return true, true
	}
	if v.loop && v.tree.markers == 0 {
		// walk would ask the base, whose own cache answers: caching here
		// too (a group's scratch tree starts a cache per group) would
		// cost a key and a map entry per bucket per group.
		return v.base.Exists(p), true
	}
	v.buf = appendPath(v.buf[:0], p)
	if st, ok := v.states[string(v.buf)]; ok {
		return st.exists, st.base
	}
	key := string(v.buf)
	exists, baseCounts = v.walk(p)
	if v.states == nil {
		v.states = make(map[string]ovState)
	} else if !v.loop && len(v.states) >= maxViewStates {
		clear(v.states)
	}
	v.states[key] = ovState{exists, baseCounts}
	return exists, baseCounts
}

// walk finds state by looking at the marker of each bucket on p.
func (v *View) walk(p Path) (exists, baseCounts bool) {
	if v.tree.markers == 0 { // also an empty tree
		return v.base.Exists(p), true
	}
	baseCounts = true
	var last *ovItem
	for i := 1; i <= len(p); i++ {
		v.buf = ovMarkerKey(v.buf[:0], p[:i])
		it := v.lookup(v.buf)
		if it != nil {
			if it.kind != ovBucket {
				return false, false // dropped, or a value rather than a bucket
			}
			baseCounts = false
		}
		last = it
	}
	if last != nil {
		return true, baseCounts
	}
	return baseCounts && v.base.Exists(p), baseCounts
}

func (v *View) Get(p Path, key []byte) []byte {
	if v.tree.Len() == 0 {
		return v.base.Get(p, key) // an empty overlay hides nothing
	}
	v.kbuf = ovKeyOf(v.kbuf[:0], p, key)
	return v.get(p, key, v.kbuf)
}

// get is Get with ck, the composite key of key in the bucket at p: the
// views of a chain (the commit loop reads through two or three) all look
// up the same composite key, encoded once by the top one. ck is that
// view's kbuf, which nothing below it writes.
func (v *View) get(p Path, key, ck []byte) []byte {
	if v.tree.Len() > 0 {
		if it := v.lookup(ck); it != nil {
			if it.kind == ovValue {
				return it.val
			}
			return nil
		}
		// Without a bucket entry in the tree, the bucket is the base's
		// business: the base finds nothing under a bucket it lacks.
		if v.tree.markers > 0 {
			if ok, base := v.state(p); !ok || !base {
				return nil
			}
		}
	}
	if b, ok := v.base.(*View); ok {
		return b.get(p, key, ck)
	}
	return v.base.Get(p, key)
}

func (v *View) Has(p Path, key []byte) bool {
	if v.tree.Len() == 0 {
		return v.base.Has(p, key)
	}
	v.kbuf = ovKeyOf(v.kbuf[:0], p, key)
	return v.has(p, key, v.kbuf)
}

// has is Has with the composite key encoded once, as get.
func (v *View) has(p Path, key, ck []byte) bool {
	if v.tree.Len() > 0 {
		if it := v.lookup(ck); it != nil {
			return it.kind == ovValue || it.kind == ovBucket
		}
		if v.tree.markers > 0 { // as get
			if ok, base := v.state(p); !ok || !base {
				return false
			}
		}
	}
	if b, ok := v.base.(*View); ok {
		return b.has(p, key, ck)
	}
	return v.base.Has(p, key)
}

func (v *View) Exists(p Path) bool {
	ok, _ := v.state(p)
	return ok
}

func (v *View) Sequence(p Path) uint64 {
	if v.tree.Len() == 0 {
		return v.base.Sequence(p)
	}
	ok, base := v.state(p)
	if !ok {
		return 0
	}
	v.buf = ovSeqKey(v.buf[:0], p)
	if it := v.lookup(v.buf); it != nil {
		return it.seq
	}
	if base {
		return v.base.Sequence(p)
	}
	return 0
}

// ovCursor walks the overlay entries of one bucket with a prefix, in the
// order of a scan.
type ovCursor struct {
	it      btree.IterG[*ovItem]
	ok      bool
	from    int // len of the bucket's key prefix: keys are it.Item().key[from:]
	prefix  []byte
	reverse bool

	// A Scan's merge (scanBase): fn is the scan's callback, stop what
	// ended the base's walk (which swallows ErrStop), onBase scanBase
	// bound once per cursor (a method value is an allocation each time
	// it is made; a closure per scan, and one per base key, were).
	fn     func(k, v []byte) error
	stop   error
	onBase func(k, v []byte) error
}

func (c *ovCursor) item() *ovItem {
	if !c.ok {
		return nil
	}
	it := c.it.Item()
	if !bytes.HasPrefix(it.key, c.prefix) {
		c.ok = false
		return nil
	}
	return it
}

func (c *ovCursor) next() {
	if c.reverse {
		c.ok = c.it.Prev()
	} else {
		c.ok = c.it.Next()
	}
}

// cursor positions an overlay cursor as Reader.Scan positions its first
// key: one of v's free cursors, or a new one. putCursor gives it back.
func (v *View) cursor(p Path, prefix, start []byte, reverse bool) *ovCursor {
	var c *ovCursor
	if n := len(v.free); n > 0 {
		c, v.free = v.free[n-1], v.free[:n-1]
	} else {
		c = new(ovCursor)
		c.onBase = c.scanBase
	}
	// The bucket's key prefix goes to v.buf, which (with v.pivot) serves
	// only the seek below.
	v.buf = ovKeyOf(v.buf[:0], p, nil)
	from := len(v.buf)
	c.from, c.prefix, c.reverse = from, append(append(c.prefix[:0], v.buf...), prefix...), reverse
	c.it = v.tree.Iter()
	switch {
	case !reverse && start != nil && bytes.Compare(start, prefix) > 0:
		v.buf = append(v.buf[:from], start...) // kept in v.buf: grown once
		v.pivot.key = v.buf
		c.ok = c.it.Seek(&v.pivot)
	case !reverse:
		v.pivot.key = c.prefix
		c.ok = c.it.Seek(&v.pivot)
	default:
		if start != nil && (bytes.HasPrefix(start, prefix) || bytes.Compare(start, prefix) <= 0) {
			v.buf = append(v.buf[:from], start...)
			v.pivot.key = v.buf
		} else {
			v.buf = appendPrefixEnd(v.buf[:0], c.prefix) // never nil: the prefix holds a 0x00
			v.pivot.key = v.buf
		}
		if c.ok = c.it.Seek(&v.pivot); c.ok {
			c.ok = c.it.Prev()
		} else {
			c.ok = c.it.Last()
		}
	}
	return c
}

// putCursor ends c's walk and keeps it for v's next scan. The iterator
// is dropped whole: Release keeps its stack, whose room still points at
// the tree's nodes, and a kept cursor would keep a tree the overlay let
// go of (the commit loop's views live as long as the store).
func (v *View) putCursor(c *ovCursor) {
	c.it.Release()
	c.it = btree.IterG[*ovItem]{}
	c.ok, c.fn, c.stop = false, nil, nil
	v.pivot.key = nil
	v.free = append(v.free, c)
}

// scanBase is a Scan's step at each base key k (bound as onBase): the
// overlay entries that come first go to fn, one with the same key
// replaces the base's, and then k goes to fn. The first error (ErrStop
// included) ends the base's walk and is kept in stop.
func (c *ovCursor) scanBase(k, val []byte) error {
	for it := c.item(); it != nil; it = c.item() {
		order := bytes.Compare(it.key[c.from:], k)
		if c.reverse {
			order = -order
		}
		if order > 0 {
			break
		}
		c.next()
		if c.stop = c.emitValue(it); c.stop != nil {
			return c.stop
		}
		if order == 0 {
			return nil // the overlay's entry replaces the base's
		}
	}
	c.stop = c.fn(k, val)
	return c.stop
}

// emitValue hands an overlay entry to the scan's callback: a deletion or a
// bucket only hides.
func (c *ovCursor) emitValue(it *ovItem) error {
	if it.kind != ovValue {
		return nil
	}
	return c.fn(it.key[c.from:], it.val)
}

// merge walks the overlay cursor together with a walk of the base in the
// same order. walkBase calls visit with each base key and a yield that
// hands that key on; overlay entries that come first go to emit, and one
// with the same key replaces the base's. emit only hands on what it must
// (a deletion or a marker only hides). The first error of emit or yield
// (ErrStop included) ends the walk and is returned.
func (c *ovCursor) merge(walkBase func(visit func(k []byte, yield func() error) error) error, emit func(*ovItem) error) error {
	if walkBase != nil {
		// The base's walk swallows ErrStop: remember what ended it.
		var stop error
		err := walkBase(func(k []byte, yield func() error) error {
			for it := c.item(); it != nil; it = c.item() {
				order := bytes.Compare(it.key[c.from:], k)
				if c.reverse {
					order = -order
				}
				if order > 0 {
					break
				}
				c.next()
				if stop = emit(it); stop != nil {
					return stop
				}
				if order == 0 {
					return nil // the overlay's entry replaces the base's
				}
			}
			stop = yield()
			return stop
		})
		if err == nil {
			err = stop
		}
		if err != nil {
			return err
		}
	}
	for it := c.item(); it != nil; it = c.item() {
		c.next()
		if err := emit(it); err != nil {
			return err
		}
	}
	return nil
}

func (v *View) Scan(p Path, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	if v.tree.Len() == 0 {
		return v.base.Scan(p, prefix, start, reverse, fn)
	}
	ok, base := v.state(p)
	if !ok {
		return nil
	}
	c := v.cursor(p, prefix, start, reverse)
	defer v.putCursor(c)
	if c.item() == nil {
		// The tree holds nothing in the scan's range (a group's scratch
		// tree, a lineage the recent groups left alone): the base's scan
		// is the answer, without a merge step per key.
		if !base {
			return nil
		}
		return v.base.Scan(p, prefix, start, reverse, fn)
	}
	// The merge of Buckets (merge), with the callbacks bound in c once.
	c.fn = fn
	var err error
	if base {
		if err = v.base.Scan(p, prefix, start, reverse, c.onBase); err == nil {
			err = c.stop // the base's walk swallows ErrStop
		}
	}
	for it := c.item(); err == nil && it != nil; it = c.item() {
		c.next()
		err = c.emitValue(it)
	}
	return stopped(err)
}

func (v *View) Buckets(p Path, after []byte, fn func(name []byte) error) error {
	if v.tree.Len() == 0 {
		return v.base.Buckets(p, after, fn)
	}
	ok, base := v.state(p)
	if !ok {
		return nil
	}
	c := v.cursor(p, nil, after, false)
	defer v.putCursor(c)
	if it := c.item(); it != nil && after != nil && bytes.Equal(it.key[c.from:], after) {
		c.next() // Buckets lists the names after it
	}
	var walkBase func(func([]byte, func() error) error) error
	if base {
		walkBase = func(visit func([]byte, func() error) error) error {
			return v.base.Buckets(p, after, func(name []byte) error {
				return visit(name, func() error { return fn(name) })
			})
		}
	}
	// Only a bucket the overlay created is listed; other entries hide.
	return stopped(c.merge(walkBase, func(it *ovItem) error {
		if it.kind != ovBucket {
			return nil
		}
		return fn(it.key[c.from:])
	}))
}
