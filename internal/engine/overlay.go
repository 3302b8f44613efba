package engine

// The read overlay: changes that are durable in the write-ahead log but not
// yet applied to bbolt, held in memory in one ordered tree and read on top
// of a bbolt snapshot. It implements Reader and Writer (kv.go), so the code
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

// Tree is an ordered tree of entries that counts its bucket entries:
// while it holds none (the usual case: buckets are created once per thread
// and dropped rarely), a bucket's state is the base's, without a lookup
// per bucket on the path.
type Tree struct {
	*btree.BTreeG[*ovItem]
	markers int
	// states caches bucket states for the commit loop's views over this
	// tree (readers keep their own: they must not write shared memory).
	// What lies below a tree changes only in ways that keep every state
	// (a group merged into it from above, bbolt taking what it prunes), so
	// a cached state lasts until a bucket entry of the tree on its path
	// changes (forget).
	states map[string]ovState
}

func NewTree() *Tree {
	return &Tree{BTreeG: btree.NewBTreeGOptions(func(a, b *ovItem) bool { return bytes.Compare(a.key, b.key) < 0 },
		btree.Options{NoLocks: true}), states: make(map[string]ovState)}
}

func (it *ovItem) marker() bool { return it.kind == ovBucket || it.kind == ovDropped }

// Frozen returns a copy of t that shares its nodes until either changes
// (tidwall/btree copies a node on its first write after Copy), so it costs
// O(1) now and a node per changed node later. Nobody changes the copy:
// readers read it from many goroutines while the commit loop goes on
// changing t. Its states start empty, as readers keep their own.
func (t *Tree) Frozen() *Tree {
	return &Tree{BTreeG: t.Copy(), markers: t.markers}
}

// put sets it and returns the entry it replaced.
func (t *Tree) put(it *ovItem) *ovItem { return t.putHint(it, nil) }

// putHint is put with a path hint (tidwall/btree): a run of puts in key
// order, as a merge makes, then finds each place in a compare or two per
// level instead of a binary search of each node.
func (t *Tree) putHint(it *ovItem, hint *btree.PathHint) *ovItem {
	prev, _ := t.SetHint(it, hint)
	if it.marker() {
		t.markers++
		t.forget(it.sub)
	}
	if prev != nil && prev.marker() {
		t.markers--
		t.forget(prev.sub)
	}
	return prev
}

// forget drops the cached states a bucket entry for the bucket whose
// prefix is sub decides: the states of that bucket and of those below it
// (a state depends on the entries of the buckets on its path alone, walk).
// Every other state holds: a thread created or dropped leaves the cached
// states of the other threads' buckets alone. A cache grown past
// forgetScan (threads that come and go leave theirs) is cleared instead:
// a scan of every entry per bucket change would cost more than the walks
// it saves, and the clear bounds the cache.
func (t *Tree) forget(sub []byte) {
	if len(t.states) > forgetScan {
		clear(t.states)
		return
	}
	for k := range t.states {
		if len(k) >= len(sub) && k[:len(sub)] == string(sub) {
			delete(t.states, k)
		}
	}
}

// forgetScan bounds the cached states forget looks through one by one:
// 16 writers on threads of their own ask about some 100 buckets.
const forgetScan = 256

// remove deletes the entry with key.
func (t *Tree) remove(key []byte) { t.removeHint(&ovItem{key: key}, nil) }

// removeHint deletes the entry with pivot's key, with a path hint (putHint).
func (t *Tree) removeHint(pivot *ovItem, hint *btree.PathHint) {
	if prev, ok := t.DeleteHint(pivot, hint); ok && prev.marker() {
		t.markers--
		t.forget(prev.sub)
	}
}

const (
	ovKeysTag  = 0x00 // after a bucket's path: its own keys
	ovChildTag = 0x01 // before each path component
	ovSeqTag   = 0x02 // after a bucket's path: its sequence
)

// appendPath appends the encoding of p: everything at or below p has it
// as a prefix.
func appendPath(b []byte, p Path) []byte {
	for _, name := range p {
		b = append(b, ovChildTag)
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
	}
	return b
}

// ovKeyOf is the composite key of key k in the bucket at p.
func ovKeyOf(b []byte, p Path, k []byte) []byte {
	b = append(appendPath(b, p), ovKeysTag)
	return append(b, k...)
}

// ovMarkerKey is the composite key of bucket p as a key of its parent.
func ovMarkerKey(b []byte, p Path) []byte {
	return ovKeyOf(b, p[:len(p)-1], p[len(p)-1])
}

func ovSeqKey(b []byte, p Path) []byte {
	return append(appendPath(b, p), ovSeqTag)
}

// TreeWriter applies changes of one group to the commit loop's working tree.
// It logs each change for the write-ahead log and keeps an undo log, so an
// op that fails half-way can be taken back alone.
type TreeWriter struct {
	View
	gen  uint64
	muts []Mutation
	undo []ovUndo
	// items and names are slabs the group's entries and its log's bucket
	// paths are cut from: one allocation per slab, not one per change.
	// A slab lives as long as any entry or change cut from it, which is
	// about as long as the group's (every entry of a group goes from the
	// shared overlay at the same prune, the changes with the group).
	items []ovItem
	names [][]byte
	// hint is where the last set ended in the tree (View.hint): an op's
	// changes fall near each other.
	hint btree.PathHint
}

const (
	itemSlab = 32
	nameSlab = 64
)

// newItem returns a zero entry cut from the slab.
func (w *TreeWriter) newItem() *ovItem {
	if len(w.items) == 0 {
		w.items = make([]ovItem, itemSlab)
	}
	it := &w.items[0]
	w.items = w.items[1:]
	return it
}

type ovUndo struct {
	key  []byte
	prev *ovItem // nil: the key was absent
}

var _ Writer = (*TreeWriter)(nil)

// NewTreeWriter returns a writer of group gen into tree, on top of base. Its
// bucket states are the tree's cache (Tree.states).
func NewTreeWriter(tree *Tree, base Reader, gen uint64) *TreeWriter {
	return &TreeWriter{View: View{tree: tree, base: base, states: tree.states, loop: true}, gen: gen}
}

// reuse makes w a writer of group gen into tree on top of base, as
// NewTreeWriter, keeping its buffers, undo log and the rest of its slabs:
// the commit loop writes every group with the same writer. A slab then
// spans consecutive groups, which shared lets go of at about the same
// prune; a fresh slab per group of a few ops wasted most of it.
func (w *TreeWriter) reuse(tree *Tree, base Reader, gen uint64) {
	w.View.aim(tree, base)
	w.gen, w.muts, w.undo, w.hint = gen, nil, w.undo[:0], btree.PathHint{}
}

// release lets go of the group's tree, change log and readers (its bbolt
// transaction ends), and of the entries the undo log points to.
func (w *TreeWriter) release() {
	clear(w.undo)
	w.undo = w.undo[:0]
	w.muts = nil
	w.View.drop()
}

func (w *TreeWriter) set(it *ovItem) {
	prev := w.tree.putHint(it, &w.hint)
	w.undo = append(w.undo, ovUndo{it.key, prev})
}

// Mark returns the positions to roll back to with Rollback.
func (w *TreeWriter) Mark() (undo, muts int) { return len(w.undo), len(w.muts) }

// Muts returns the changes written so far, for the log.
func (w *TreeWriter) Muts() []Mutation { return w.muts }

// Gen returns the group w writes.
func (w *TreeWriter) Gen() uint64 { return w.gen }

// SetGen makes w write group gen from now on (a replay of many groups).
func (w *TreeWriter) SetGen(gen uint64) { w.gen = gen }

// Scratch returns the tree w writes into.
func (w *TreeWriter) Scratch() *Tree { return w.tree }

// Rollback undoes every change made since Mark.
func (w *TreeWriter) Rollback(undo, muts int) {
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
func (w *TreeWriter) ensureBucket(p Path) error {
	if len(p) == 0 {
		return errors.New("ckpt: no bucket named")
	}
	if ok, _ := w.state(p); ok {
		return nil
	}
	if err := storablePath(p); err != nil {
		return err
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
		case base:
			// Created where the base's content counts: a value bbolt holds
			// under the name would have the applier's CreateBucket
			// refused, after the group was acknowledged.
			if vh, ok := w.base.(valueHolder); ok && vh.holdsValue(p[:i-1], p[i-1]) {
				return fmt.Errorf("%w: bucket %q is a value in the store file (a damaged page: its element lost the bucket flag)", ErrCorrupt, p[i-1])
			}
		}
		w.set(&ovItem{key: key, sub: appendPath(nil, p[:i]), kind: ovBucket, gen: w.gen})
		base = false
	}
	return nil
}

func (w *TreeWriter) Put(p Path, key, value []byte) error {
	if err := Storable(key, value); err != nil {
		return err
	}
	if err := w.ensureBucket(p); err != nil {
		return err
	}
	// Own the bytes: the overlay and the log keep them after the op, while
	// a caller's key buffer may be reused and a value read from bbolt
	// points into a mapping that a later remap takes away. One buffer
	// holds the composite key, then the value: the log's key and bucket
	// names are slices of the composite key (pathOf), nothing is copied
	// twice.
	n := ovKeyLen(p, key)
	buf := ovKeyOf(make([]byte, 0, n+len(value)), p, key)
	ck := buf[:n:n]
	value = append(buf, value...)[n:]
	it := w.newItem()
	*it = ovItem{key: ck, val: value, kind: ovValue, gen: w.gen}
	w.set(it)
	w.muts = append(w.muts, Mutation{Op: MutPut, Path: w.pathOf(ck, len(p)), Key: ck[n-len(key):], Val: value})
	return nil
}

// pathOf is pathOf with the Path cut from w's slab (a path longer than
// the slab gets its own).
func (w *TreeWriter) pathOf(ck []byte, n int) Path {
	if n > nameSlab {
		return pathOf(ck, n)
	}
	if len(w.names) < n {
		w.names = make([][]byte, nameSlab)
	}
	out := Path(w.names[:n:n])
	w.names = w.names[n:]
	fillPath(out, ck)
	return out
}

// ovKeyLen is the length of ovKeyOf(nil, p, k).
func ovKeyLen(p Path, k []byte) int {
	n := 1 + len(k)
	for _, name := range p {
		n += 3 + len(name)
	}
	return n
}

// pathOf returns the n bucket names that composite key ck starts with, as
// slices of ck (which the caller owns and never changes).
func pathOf(ck []byte, n int) Path {
	out := make(Path, n)
	fillPath(out, ck)
	return out
}

// fillPath sets out to the len(out) bucket names ck starts with.
func fillPath(out Path, ck []byte) {
	for i := range out {
		l := int(binary.BigEndian.Uint16(ck[1:3]))
		out[i] = ck[3 : 3+l : 3+l]
		ck = ck[3+l:]
	}
}

func (w *TreeWriter) Del(p Path, key []byte) error {
	if !w.Exists(p) {
		return nil
	}
	ck := ovKeyOf(nil, p, key)
	w.set(&ovItem{key: ck, kind: ovDeleted, gen: w.gen})
	w.muts = append(w.muts, Mutation{Op: MutDel, Path: ownPath(p), Key: ck[len(ck)-len(key):]})
	return nil
}

func (w *TreeWriter) DropBucket(p Path) error {
	if len(p) == 0 || !w.Exists(p) {
		return nil
	}
	w.drop(p)
	return nil
}

// drop is DropBucket of p, which exists (or need not: what it holds is
// gone either way).
func (w *TreeWriter) drop(p Path) {
	sub := appendPath(nil, p)
	for _, it := range deleteSubtree(w.tree, sub) {
		w.undo = append(w.undo, ovUndo{it.key, it})
	}
	w.set(&ovItem{key: ovMarkerKey(nil, p), sub: sub, kind: ovDropped, gen: w.gen})
	w.muts = append(w.muts, Mutation{Op: MutDrop, Path: ownPath(p)})
}

func (w *TreeWriter) setSeq(p Path, n uint64) {
	w.set(&ovItem{key: ovSeqKey(nil, p), kind: ovSeq, seq: n, gen: w.gen})
	w.muts = append(w.muts, Mutation{Op: MutSeq, Path: ownPath(p), Seq: n})
}

func (w *TreeWriter) NextSeq(p Path) (uint64, error) {
	if err := w.ensureBucket(p); err != nil {
		return 0, err
	}
	n := w.Sequence(p) + 1
	w.setSeq(p, n)
	return n, nil
}

func (w *TreeWriter) RaiseSeq(p Path, n uint64) error {
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
func deleteSubtree(tree *Tree, sub []byte) []*ovItem {
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

// MergeOverlay moves a group's scratch tree into the shared tree and
// returns the keys it set there. A bucket the group created or dropped
// replaces whatever the shared tree held below it (a marker sorts before
// everything below its bucket, so those come after it).
func MergeOverlay(shared, scratch *Tree) [][]byte {
	keys := make([][]byte, 0, scratch.Len())
	// The scratch tree's entries come in key order: each lands near the
	// last in shared, which the hint remembers.
	var hint btree.PathHint
	scratch.Scan(func(it *ovItem) bool {
		if it.kind == ovBucket || it.kind == ovDropped {
			deleteSubtree(shared, it.sub)
		}
		shared.putHint(it, &hint)
		keys = append(keys, it.key)
		return true
	})
	return keys
}

// ownPath copies p for the log, which keeps it after the op: a bucket name
// may come from a bbolt read (a mapping a remap takes away) or a reused
// buffer.
func ownPath(p Path) Path {
	n := 0
	for _, name := range p {
		n += len(name)
	}
	buf := make([]byte, 0, n)
	out := make(Path, len(p))
	for i, name := range p {
		buf = append(buf, name...)
		out[i] = buf[len(buf)-len(name) : len(buf) : len(buf)]
	}
	return out
}

// PruneOverlay removes from tree the entries groups set that bbolt now
// holds (those not set again by a later group) and returns the tree to
// use from now on: tree itself, or a new tree of what stays. groups are
// every group merged into tree with a gen <= applied and not pruned yet,
// so what stays is exactly the entries with a later gen.
func PruneOverlay(tree *Tree, groups []*Group, applied uint64) *Tree {
	keys := 0
	for _, g := range groups {
		keys += len(g.Keys)
	}
	if 2*keys >= tree.Len() {
		// Most of the tree goes: one pass in key order that keeps the rest
		// (appended, no search) costs less than a search and a delete per
		// key, and leaves no node shared with published snapshots.
		kept := NewTree()
		tree.Scan(func(it *ovItem) bool {
			if it.gen > applied {
				kept.Load(it)
				if it.marker() {
					kept.markers++
				}
			}
			return true
		})
		if kept.markers == tree.markers {
			// No bucket entry went (bbolt holds the rest as the tree
			// did): every cached state holds, as after a prune in place.
			kept.states = tree.states
		}
		return kept
	}
	// Each group's keys are in key order (MergeOverlay): the hint finds
	// each one near the last, and the remove finds it where the get did.
	var hint btree.PathHint
	var pivot ovItem
	for _, g := range groups {
		for _, k := range g.Keys {
			pivot.key = k
			if it, ok := tree.GetHint(&pivot, &hint); ok && it.gen <= applied {
				tree.removeHint(&pivot, &hint)
			}
		}
	}
	return tree
}
