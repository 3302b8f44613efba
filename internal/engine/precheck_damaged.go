package engine

// The page check of a read-only Open (precheck.go), and what its reads
// make of the damage it found. A read-only Open reads what it can: bbolt's
// panics on a damaged page become ErrCorrupt under Guard. A cycle of
// pages is different, a cursor descending into one may never return, and
// the check refused the whole file for one: every thread lost, though the
// cycle lay under one thread's bucket (a page id damaged there names a
// page a later commit freed and reused above it; TestH190WriteBeside
// ADamagedPageIDKeepsTheFileReadable). A cursor stops at a leaf page, so
// a cycle that crosses from one bucket's tree into another's at a leaf
// never holds a read: the walk keeps it to the bucket it is in instead
// (markCycle), and a read that opens that bucket gets ErrCorrupt naming
// it, never its pages. A nested bucket's root id damaged in its parent's
// leaf is that bucket's damage alone (a header mark): charged to the
// parent, threads/, every thread was lost (TestH231DamagedNestedRootID
// CostsItsThreadOnly). A cycle within one tree's branch pages, or in the
// tree of the file's top buckets, still refuses the file, as does a
// damaged bucket element (errBadBucket).

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// refuseCycles checks f, which bbolt opened read-only, and returns an
// error only for damage a read could not survive: a cycle in the top
// buckets' tree or a damaged bucket; other damage is left to the reads
// (Guard). damaged holds the buckets whose pages lead into a cycle, with
// the cycle.
func refuseCycles(f *os.File) (damaged *damagedBuckets, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, nil // as the walk's own read errors: left to the reads
	}
	c := &pageCheck{f: f, size: uint64(fi.Size()), damaged: &damagedBuckets{}}
	m, ok, err := c.meta()
	if err != nil || !ok {
		return nil, nil
	}
	if err := c.check(m); errors.Is(err, errBadBucket) || errors.Is(err, errPageCycle) && c.damaged.empty() {
		return nil, err
	}
	return c.damaged, nil
}

// damagedBuckets are the buckets a read-only Open's check found leading
// into a cycle, each with the cycle.
type damagedBuckets struct {
	// roots holds buckets by their root page: a bucket opened at that
	// root, by any name, is damaged (its tree holds the damaged id).
	roots map[uint64]error
	// headers holds buckets by the root page of their parent and their
	// own: a bucket whose header names, as its root, a page above it
	// (the header is the damage; the parent, its other buckets, and a
	// bucket whose tree that page is, are sound).
	headers map[[2]uint64]error
}

func (d *damagedBuckets) empty() bool { return d == nil || len(d.roots) == 0 && len(d.headers) == 0 }

// markRoot and markHeader record a damaged bucket (the first cycle found
// through it).
func (d *damagedBuckets) markRoot(root uint64, err error) {
	if d.roots == nil {
		d.roots = map[uint64]error{}
	}
	if d.roots[root] == nil {
		d.roots[root] = err
	}
}

func (d *damagedBuckets) markHeader(parent, root uint64, err error) {
	if d.headers == nil {
		d.headers = map[[2]uint64]error{}
	}
	if k := [2]uint64{parent, root}; d.headers[k] == nil {
		d.headers[k] = err
	}
}

// damagedDBs holds, per read-only handle whose check found damaged
// buckets, those buckets (refuseCycles' damaged); damagedCount counts its
// entries, so a read of a sound file pays one atomic load. closeBolt
// drops a handle's entry.
var (
	damagedDBs   sync.Map
	damagedCount atomic.Int64
)

// markDamaged records db's damaged buckets.
func markDamaged(db *bolt.DB, damaged *damagedBuckets) {
	if damaged.empty() {
		return
	}
	if _, had := damagedDBs.Swap(db, damaged); !had {
		damagedCount.Add(1)
	}
}

// forgetDamaged drops db's entry (its handle is closed).
func forgetDamaged(db *bolt.DB) {
	if _, had := damagedDBs.LoadAndDelete(db); had {
		damagedCount.Add(-1)
	}
}

// checkDamaged panics (a read's guard makes it ErrCorrupt, as bbolt's
// panics on a damaged page) if b, opened at p by a read of tx inside
// parent (nil: a top bucket), is a bucket the check found damaged: no
// cursor may descend into its pages.
func checkDamaged(tx *bolt.Tx, parent, b *bolt.Bucket, p Path) {
	if b == nil || damagedCount.Load() == 0 {
		return
	}
	d, ok := damagedDBs.Load(tx.DB())
	if !ok {
		return
	}
	dmg := d.(*damagedBuckets)
	cause, bad := dmg.roots[uint64(b.Root())]
	if !bad && parent != nil {
		cause, bad = dmg.headers[[2]uint64{uint64(parent.Root()), uint64(b.Root())}]
	}
	if bad {
		names := make([]string, len(p))
		for i, n := range p {
			names[i] = string(n)
		}
		panic(damagedBucket{fmt.Errorf("%w: bucket %s: its pages lead into a cycle, not read (%s)", ErrCorrupt, strings.Join(names, "/"), strings.TrimPrefix(cause.Error(), ErrCorrupt.Error()+": "))})
	}
}

// damagedBucket is checkDamaged's panic, an error wrapping ErrCorrupt.
type damagedBucket struct{ error }

func (e damagedBucket) Unwrap() error { return e.error }

// OpensDamaged runs fn and tells whether it opened a bucket the page
// check found damaged (checkDamaged's panic, stopped here): the bucket
// was found by its name, its own pages are the damage. Any other panic
// goes on to the caller's guard.
func OpensDamaged(fn func()) (damaged bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(damagedBucket); !ok {
				panic(r)
			}
			damaged = true
		}
	}()
	fn()
	return false
}

// replaySparing is ReplayMut of m into ow, a read-only Open's overlay of
// its log's groups over a file the check found damaged buckets in: a
// change whose replay meets one (opens it, or a bucket under it, to see
// whether a bucket exists or what its sequence is: checkDamaged) is left
// out of the overlay, rolled back whole, where before it failed the Open:
// every thread lost for a group written into one damaged bucket
// (TestH231ReadOnlyCycleFileWithALiveLog). Left out, it is still never
// read wrong: a read of what it wrote finds nothing in the overlay and
// opens the same buckets of the file, and the same damaged bucket gives
// it ErrCorrupt. A later change that did not meet it (a drop of a bucket
// above it) still covers it, as it would have. Any other panic goes on
// to Open's guard.
func replaySparing(ow *TreeWriter, m *Mutation) (err error) {
	undo, muts := ow.Mark()
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(damagedBucket); !ok {
				panic(r)
			}
			ow.Rollback(undo, muts)
			err = nil
			if m.Op == MutDrop {
				// A drop needs none of the bucket's pages: what it
				// held is gone after it whatever it was. Left out, a
				// logged DeleteThread of the damaged thread was lost:
				// the thread listed again, its ids read ErrCorrupt not
				// ErrNotFound, a Save after it into the same thread
				// ErrCorrupt (TestH237LoggedDeleteThenSave).
				ow.drop(m.Path)
			}
		}
	}()
	return ReplayMut(m, ow)
}

// misnamedError is checkFirstKey's error: the page is not the one its
// parent's element names it by, a damaged page id or key in the parent.
type misnamedError struct{ error }

func (e misnamedError) Unwrap() error { return e.error }

// noteMisnamed records, in a read-only Open's walk, that page id, named by
// a page of the bucket whose root is from, failed with err; if err says
// the page is not the one its parent names (a damaged id there), the
// bucket of the parent is where a cycle through id is.
func (c *pageCheck) noteMisnamed(id, from uint64, err error) {
	var mn misnamedError
	if c.damaged == nil || !errors.As(err, &mn) {
		return
	}
	if c.misnamed == nil {
		c.misnamed = map[uint64]uint64{}
	}
	c.misnamed[id] = from
}

// pathPage is a page on the walk's path, with the root page of the
// bucket whose tree it is in.
type pathPage struct{ id, bucket uint64 }

// markCycle marks damaged the bucket a cycle is in, found where a page of
// bucket fromBucket (the last on path) names page target, above it on
// path, as a bucket's root (root: the page is a leaf, the name is in a
// bucket element's header) or as a child in its tree, and tells whether
// the file must be refused: the cycle lies in one bucket's tree (a
// branch page names a page of its own tree above it), whose cursor may go
// round it for ever, or the damaged bucket is the top buckets' tree
// (whose root is top). A cycle is a damaged id (bbolt's pages name no
// page above them): on the path from target down, the first page its
// parent misnamed (noteMisnamed) is where the damaged id led, and its
// parent's bucket is the damaged one. Where no page is misnamed and a
// header names target, the header is the damage: the bucket it opens
// (root target, in fromBucket) is the damaged one, not fromBucket, whose
// cursor stops at the leaf (charged to fromBucket, a damaged thread
// bucket's header cost every thread). Else the bucket the cycle closes
// in is marked: it may be sound, reached round the damage (a page freed
// and reused in another tree since), so only where no misnamed page
// tells.
func (c *pageCheck) markCycle(path []pathPage, target, fromBucket, top uint64, root bool, err error) (refuse bool) {
	at := len(path)
	for at > 0 && path[at-1].id != target {
		at--
	}
	if at == 0 || !root && path[at-1].bucket == fromBucket {
		return true
	}
	for _, p := range path[at:] {
		if from, ok := c.misnamed[p.id]; ok {
			c.damaged.markRoot(from, err)
			return from == top
		}
	}
	if !root {
		c.damaged.markRoot(fromBucket, err)
		return fromBucket == top
	}
	c.damaged.markHeader(fromBucket, target, err)
	return fromBucket == top // a top bucket's header is the top tree's damage, as before
}
