package ckpt

// The read overlay: changes that are durable in the write-ahead log but not
// yet applied to bbolt, held in memory in one ordered tree and read on top
// of a bbolt snapshot. It implements reader and writer (kv.go), so the code
// that knows checkpoints neither knows nor cares whether a change is in
// bbolt yet.
//
// Every overlay entry lives under one composite key built from its bucket
// path: each path component is 0x01 | len16(name) | name, then 0x00 and the
// key. So a bucket's own keys are contiguous and in key order, its nested
// buckets sort after them (0x01), and everything at or below a bucket shares
// one prefix, which is what dropping a bucket removes. A bucket's sequence
// sits at its path and 0x02.
//
// Entries say one of: the key holds a value; the key was deleted; the key
// is a bucket created in the overlay (bbolt holds nothing below it that
// counts); the key was a bucket and is dropped. Each records the group (gen)
// that wrote it: once bbolt holds groups up to A, entries with gen <= A are
// in bbolt too and are pruned. Entries are never changed in place: a
// published snapshot shares them.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/tidwall/btree"
)

type ovKind uint8

const (
	ovValue   ovKind = iota // the key holds val
	ovDeleted               // the key is deleted (hides bbolt's)
	ovBucket                // a bucket created in the overlay: bbolt's content below it does not count
	ovDropped               // a dropped bucket: it and all below it are gone
	ovSeq                   // a bucket's sequence number
)

type ovItem struct {
	key  []byte
	val  []byte
	sub  []byte // ovBucket, ovDropped: the prefix of everything below the bucket
	seq  uint64
	gen  uint64
	kind ovKind
}

// ovTree is an ordered tree of entries that counts its bucket entries:
// while it holds none (the usual case: buckets are created once per thread
// and dropped rarely), a bucket's state is the base's, without a lookup
// per bucket on the path.
type ovTree struct {
	*btree.BTreeG[*ovItem]
	markers int
	// states caches bucket states for the commit loop's views over this
	// tree (readers keep their own: they must not write shared memory).
	// What lies below a tree changes only in ways that keep every state
	// (a group merged into it from above, bbolt taking what it prunes), so
	// the cache lasts until the tree's own bucket entries change.
	states map[string]ovState
}

func newOvTree() *ovTree {
	return &ovTree{BTreeG: btree.NewBTreeGOptions(func(a, b *ovItem) bool { return bytes.Compare(a.key, b.key) < 0 },
		btree.Options{NoLocks: true}), states: make(map[string]ovState)}
}

func (it *ovItem) marker() bool { return it.kind == ovBucket || it.kind == ovDropped }

// frozen returns a copy of t that shares its nodes until either changes
// (tidwall/btree copies a node on its first write after Copy), so it costs
// O(1) now and a node per changed node later. Nobody changes the copy:
// readers read it from many goroutines while the commit loop goes on
// changing t. Its states start empty, as readers keep their own.
func (t *ovTree) frozen() *ovTree {
	return &ovTree{BTreeG: t.Copy(), markers: t.markers}
}

// put sets it and returns the entry it replaced.
func (t *ovTree) put(it *ovItem) *ovItem {
	prev, _ := t.Set(it)
	if it.marker() {
		t.markers++
		clear(t.states)
	}
	if prev != nil && prev.marker() {
		t.markers--
		clear(t.states)
	}
	return prev
}

// remove deletes the entry with key.
func (t *ovTree) remove(key []byte) {
	if prev, ok := t.Delete(&ovItem{key: key}); ok && prev.marker() {
		t.markers--
		clear(t.states)
	}
}

const (
	ovKeysTag  = 0x00 // after a bucket's path: its own keys
	ovChildTag = 0x01 // before each path component
	ovSeqTag   = 0x02 // after a bucket's path: its sequence
)

// appendOvPath appends the encoding of p: everything at or below p has it
// as a prefix.
func appendOvPath(b []byte, p bucketPath) []byte {
	for _, name := range p {
		b = append(b, ovChildTag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
	}
	return b
}

// ovKeyOf is the composite key of key k in the bucket at p.
func ovKeyOf(b []byte, p bucketPath, k []byte) []byte {
	b = append(appendOvPath(b, p), ovKeysTag)
	return append(b, k...)
}

// ovMarkerKey is the composite key of bucket p as a key of its parent.
func ovMarkerKey(b []byte, p bucketPath) []byte {
	return ovKeyOf(b, p[:len(p)-1], p[len(p)-1])
}

func ovSeqKey(b []byte, p bucketPath) []byte {
	return append(appendOvPath(b, p), ovSeqTag)
}

// ovView reads an overlay tree on top of a base reader (a bbolt snapshot
// that holds at most the groups the tree holds).
type ovView struct {
	tree  *ovTree
	base  reader
	pivot ovItem
	buf   []byte
	// states caches state by encoded path: a group or a read asks about
	// the same few buckets again and again. The commit loop's views use
	// their tree's cache (ovTree.states); a reader's starts empty.
	states map[string]ovState
}

type ovState struct{ exists, base bool }

var _ reader = (*ovView)(nil)

// checkPages and fileSize pass through to the file (Verify, Stats): the
// overlay's entries are checked once applied.
func (v *ovView) CheckPages(fn func(error) bool) {
	if fc, ok := v.base.(engine.FileChecker); ok {
		fc.CheckPages(fn)
	}
}

func (v *ovView) FileSize() (int64, int) {
	if fc, ok := v.base.(engine.FileChecker); ok {
		return fc.FileSize()
	}
	return 0, 0
}

func (v *ovView) lookup(key []byte) *ovItem {
	v.pivot.key = key
	it, _ := v.tree.Get(&v.pivot)
	return it
}

// state tells whether the bucket at p exists and whether the base's content
// at p still counts (no bucket on p was dropped or created in the overlay).
func (v *ovView) state(p bucketPath) (exists, baseCounts bool) {
	if len(p) == 0 {
		return true, true
	}
	v.buf = appendOvPath(v.buf[:0], p)
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
func (v *ovView) walk(p bucketPath) (exists, baseCounts bool) {
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

func (v *ovView) Get(p bucketPath, key []byte) []byte {
	if v.tree.Len() == 0 {
		return v.base.Get(p, key) // an empty overlay hides nothing
	}
	v.buf = ovKeyOf(v.buf[:0], p, key)
	if it := v.lookup(v.buf); it != nil {
		if it.kind == ovValue {
			return it.val
		}
		return nil
	}
	if ok, base := v.state(p); ok && base {
		return v.base.Get(p, key)
	}
	return nil
}

func (v *ovView) Has(p bucketPath, key []byte) bool {
	if v.tree.Len() == 0 {
		return v.base.Has(p, key)
	}
	v.buf = ovKeyOf(v.buf[:0], p, key)
	if it := v.lookup(v.buf); it != nil {
		return it.kind == ovValue || it.kind == ovBucket
	}
	if ok, base := v.state(p); ok && base {
		return v.base.Has(p, key)
	}
	return false
}

func (v *ovView) Exists(p bucketPath) bool {
	ok, _ := v.state(p)
	return ok
}

func (v *ovView) Sequence(p bucketPath) uint64 {
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

// cursor positions an overlay cursor as reader.scan positions its first key.
func (v *ovView) cursor(p bucketPath, prefix, start []byte, reverse bool) *ovCursor {
	bp := ovKeyOf(nil, p, nil)
	c := &ovCursor{from: len(bp), prefix: append(bytes.Clone(bp), prefix...), reverse: reverse}
	c.it = v.tree.Iter()
	switch {
	case !reverse && start != nil && bytes.Compare(start, prefix) > 0:
		c.ok = c.it.Seek(&ovItem{key: append(bytes.Clone(bp), start...)})
	case !reverse:
		c.ok = c.it.Seek(&ovItem{key: c.prefix})
	default:
		var bound []byte
		if start != nil && (bytes.HasPrefix(start, prefix) || bytes.Compare(start, prefix) <= 0) {
			bound = append(bytes.Clone(bp), start...)
		} else {
			bound = prefixEnd(c.prefix) // never nil: bp holds a 0x00
		}
		if c.ok = c.it.Seek(&ovItem{key: bound}); c.ok {
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
// (errStop included) ends the walk and is returned.
func (c *ovCursor) merge(walkBase func(visit func(k []byte, yield func() error) error) error, emit func(*ovItem) error) error {
	if walkBase != nil {
		// The base's walk swallows errStop: remember what ended it.
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

// stopped turns a walk's error into Scan's: nil for errStop.
func stopped(err error) error {
	if err != nil && errors.Is(err, errStop) {
		return nil
	}
	return err
}

func (v *ovView) Scan(p bucketPath, prefix, start []byte, reverse bool, fn func(k, v []byte) error) error {
	if v.tree.Len() == 0 {
		return v.base.Scan(p, prefix, start, reverse, fn)
	}
	ok, base := v.state(p)
	if !ok {
		return nil
	}
	c := v.cursor(p, prefix, start, reverse)
	defer c.it.Release()
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

func (v *ovView) Buckets(p bucketPath, after []byte, fn func(name []byte) error) error {
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

// ovWriter applies changes of one group to the commit loop's working tree.
// It logs each change for the write-ahead log and keeps an undo log, so an
// op that fails half-way can be taken back alone.
type ovWriter struct {
	ovView
	gen  uint64
	muts []engine.Mutation
	undo []ovUndo
}

type ovUndo struct {
	key  []byte
	prev *ovItem // nil: the key was absent
}

var _ writer = (*ovWriter)(nil)

// newOvWriter returns a writer of group gen into tree, on top of base. Its
// bucket states are the tree's cache, which the tree clears whenever one
// of its bucket entries changes.
func newOvWriter(tree *ovTree, base reader, gen uint64) *ovWriter {
	return &ovWriter{ovView: ovView{tree: tree, base: base, states: tree.states}, gen: gen}
}

func (w *ovWriter) set(it *ovItem) {
	prev := w.tree.put(it)
	w.undo = append(w.undo, ovUndo{it.key, prev})
}

// mark returns the positions to roll back to with rollback.
func (w *ovWriter) mark() (undo, muts int) { return len(w.undo), len(w.muts) }

// rollback undoes every change made since mark.
func (w *ovWriter) rollback(undo, muts int) {
	for i := len(w.undo) - 1; i >= undo; i-- {
		u := w.undo[i]
		if u.prev == nil {
			w.tree.remove(u.key)
		} else {
			w.tree.put(u.prev)
		}
	}
	w.undo, w.muts = w.undo[:undo], w.muts[:muts]
}

// ensureBucket creates the buckets on p that do not exist yet.
func (w *ovWriter) ensureBucket(p bucketPath) error {
	if len(p) == 0 {
		return errors.New("ckpt: no bucket named")
	}
	if ok, _ := w.state(p); ok {
		return nil
	}
	base := true
	for i := 1; i <= len(p); i++ {
		key := ovMarkerKey(nil, p[:i])
		it := w.lookup(key)
		switch {
		case it != nil && it.kind == ovBucket:
			base = false
			continue
		case it != nil && it.kind != ovDropped:
			return fmt.Errorf("ckpt: open bucket %q: a value has its name", p[i-1])
		case it == nil && base && w.base.Exists(p[:i]):
			continue
		}
		w.set(&ovItem{key: key, sub: appendOvPath(nil, p[:i]), kind: ovBucket, gen: w.gen})
		base = false
	}
	return nil
}

func (w *ovWriter) Put(p bucketPath, key, value []byte) error {
	if err := w.ensureBucket(p); err != nil {
		return err
	}
	// Own the bytes: the overlay and the log keep them after the op, while
	// a caller's key buffer may be reused and a value read from bbolt
	// points into a mapping that a later remap takes away.
	value = append(make([]byte, 0, len(value)), value...)
	ck := ovKeyOf(make([]byte, 0, len(key)+32), p, key)
	key = ck[len(ck)-len(key):]
	w.set(&ovItem{key: ck, val: value, kind: ovValue, gen: w.gen})
	w.muts = append(w.muts, engine.Mutation{Op: engine.MutPut, Path: ownPath(p), Key: key, Val: value})
	return nil
}

func (w *ovWriter) Del(p bucketPath, key []byte) error {
	if !w.Exists(p) {
		return nil
	}
	ck := ovKeyOf(nil, p, key)
	w.set(&ovItem{key: ck, kind: ovDeleted, gen: w.gen})
	w.muts = append(w.muts, engine.Mutation{Op: engine.MutDel, Path: ownPath(p), Key: ck[len(ck)-len(key):]})
	return nil
}

func (w *ovWriter) DropBucket(p bucketPath) error {
	if len(p) == 0 || !w.Exists(p) {
		return nil
	}
	sub := appendOvPath(nil, p)
	for _, it := range deleteSubtree(w.tree, sub) {
		w.undo = append(w.undo, ovUndo{it.key, it})
	}
	w.set(&ovItem{key: ovMarkerKey(nil, p), sub: sub, kind: ovDropped, gen: w.gen})
	w.muts = append(w.muts, engine.Mutation{Op: engine.MutDrop, Path: ownPath(p)})
	return nil
}

func (w *ovWriter) setSeq(p bucketPath, n uint64) {
	w.set(&ovItem{key: ovSeqKey(nil, p), kind: ovSeq, seq: n, gen: w.gen})
	w.muts = append(w.muts, engine.Mutation{Op: engine.MutSeq, Path: ownPath(p), Seq: n})
}

func (w *ovWriter) NextSeq(p bucketPath) (uint64, error) {
	if err := w.ensureBucket(p); err != nil {
		return 0, err
	}
	n := w.Sequence(p) + 1
	w.setSeq(p, n)
	return n, nil
}

func (w *ovWriter) RaiseSeq(p bucketPath, n uint64) error {
	if err := w.ensureBucket(p); err != nil {
		return err
	}
	// Logged even when the sequence is already higher: the change may
	// have created the bucket, and replaying it must do so too.
	w.setSeq(p, max(n, w.Sequence(p)))
	return nil
}

// deleteSubtree removes every entry of tree with prefix sub (a bucket and
// all below it) and returns them.
func deleteSubtree(tree *ovTree, sub []byte) []*ovItem {
	var dead []*ovItem
	tree.Ascend(&ovItem{key: sub}, func(it *ovItem) bool {
		if !bytes.HasPrefix(it.key, sub) {
			return false
		}
		dead = append(dead, it)
		return true
	})
	for _, it := range dead {
		tree.remove(it.key)
	}
	return dead
}

// mergeOverlay moves a group's scratch tree into the shared tree and
// returns the keys it set there. A bucket the group created or dropped
// replaces whatever the shared tree held below it (a marker sorts before
// everything below its bucket, so those come after it).
func mergeOverlay(shared, scratch *ovTree) [][]byte {
	keys := make([][]byte, 0, scratch.Len())
	scratch.Scan(func(it *ovItem) bool {
		if it.kind == ovBucket || it.kind == ovDropped {
			deleteSubtree(shared, it.sub)
		}
		shared.put(it)
		keys = append(keys, it.key)
		return true
	})
	return keys
}

// ownPath copies p for the log, which keeps it after the op: a bucket name
// may come from a bbolt read (a mapping a remap takes away) or a reused
// buffer.
func ownPath(p bucketPath) bucketPath {
	n := 0
	for _, name := range p {
		n += len(name)
	}
	buf := make([]byte, 0, n)
	out := make(bucketPath, len(p))
	for i, name := range p {
		buf = append(buf, name...)
		out[i] = buf[len(buf)-len(name) : len(buf) : len(buf)]
	}
	return out
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
