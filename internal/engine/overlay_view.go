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
	buf   []byte
	// kbuf holds the composite key of a Get or Has, which the views below
	// look up as it is (get): apart from buf, which state reuses.
	kbuf []byte
	// states caches state by encoded path: a group or a read asks about
	// the same few buckets again and again. The commit loop's views use
	// their tree's cache (Tree.states); a reader's starts empty.
	states map[string]ovState
	// loop: the commit loop's view. While its tree holds no bucket entry
	// it asks its base for a bucket's state, whose own cache answers (the
	// tree below's, or the bbolt view's open buckets), instead of caching
	// the state again per tree (a group's scratch tree lives for one
	// group). A reader's view caches as before.
	loop bool
}

type ovState struct{ exists, base bool }

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
	*v = View{tree: t, base: base, states: t.states, loop: true, buf: v.buf[:0], kbuf: v.kbuf[:0]}
}

// drop lets go of v's tree and base (their transaction ends), keeping its
// buffers for the next aim.
func (v *View) drop() { *v = View{buf: v.buf[:0], kbuf: v.kbuf[:0]} }

// TxOf returns the bbolt transaction under a reader, if any.
func TxOf(r Reader) *bolt.Tx {
	switch v := r.(type) {
	case *BoltView:
		return v.tx
	case *View:
		return TxOf(v.base)
	}
	return nil
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
	it, _ := v.tree.Get(&v.pivot)
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
		if ok, base := v.state(p); !ok || !base {
			return nil
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
		if ok, base := v.state(p); !ok || !base {
			return false
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

// cursor positions an overlay cursor as Reader.Scan positions its first key.
func (v *View) cursor(p Path, prefix, start []byte, reverse bool) *ovCursor {
	// The bucket's key prefix goes to v.buf, which (with v.pivot) serves
	// only the seek below: one allocation for the cursor's own prefix.
	v.buf = ovKeyOf(v.buf[:0], p, nil)
	from := len(v.buf)
	c := &ovCursor{from: from, prefix: append(append(make([]byte, 0, from+len(prefix)), v.buf...), prefix...), reverse: reverse}
	c.it = v.tree.Iter()
	switch {
	case !reverse && start != nil && bytes.Compare(start, prefix) > 0:
		v.pivot.key = append(v.buf[:from], start...)
		c.ok = c.it.Seek(&v.pivot)
	case !reverse:
		v.pivot.key = c.prefix
		c.ok = c.it.Seek(&v.pivot)
	default:
		if start != nil && (bytes.HasPrefix(start, prefix) || bytes.Compare(start, prefix) <= 0) {
			v.pivot.key = append(v.buf[:from], start...)
		} else {
			v.pivot.key = prefixEnd(c.prefix) // never nil: the prefix holds a 0x00
		}
		if c.ok = c.it.Seek(&v.pivot); c.ok {
			c.ok = c.it.Prev()
		} else {
			c.ok = c.it.Last()
		}
	}
	return c
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
	defer c.it.Release()
	if c.item() == nil {
		// The tree holds nothing in the scan's range (a group's scratch
		// tree, a lineage the recent groups left alone): the base's scan
		// is the answer, without a merge step per key.
		if !base {
			return nil
		}
		return v.base.Scan(p, prefix, start, reverse, fn)
	}
	var walkBase func(func([]byte, func() error) error) error
	if base {
		walkBase = func(visit func([]byte, func() error) error) error {
			return v.base.Scan(p, prefix, start, reverse, func(k, val []byte) error {
				return visit(k, func() error { return fn(k, val) })
			})
		}
	}
	// Deletions and buckets only hide.
	return stopped(c.merge(walkBase, func(it *ovItem) error {
		if it.kind != ovValue {
			return nil
		}
		return fn(it.key[c.from:], it.val)
	}))
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
	defer c.it.Release()
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
