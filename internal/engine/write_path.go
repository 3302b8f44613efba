package engine

// The checked descent a write makes before bbolt writes. A read-write Open
// checks every page (CheckPages), and maintenance that deletes walks the
// whole file again first (the root package's checkPagesFirst), but damage
// that comes later, under the open store, met a single write unchecked:
// bbolt trusts every page id it follows. A branch element's page id
// flipped to name another bucket's page had a PutFull put its key into
// that page's node; the commit wrote the other bucket's keys into the
// written bucket and freed the page, still in use there, and the next
// commit handed it out again: the write returned nil, and another
// thread's checkpoints were gone or the file left with a page cycle no
// Open reads (TestH190WriteThroughFlippedPageIDKeepsOtherThreads). A walk
// of the file per write costs tens of milliseconds on a large file.
//
// So before bbolt writes a key, the write descends from each bucket's root
// to the leaf the key lies in, as bbolt's cursor will, over the pages as
// bbolt maps them, and checks every page on the way: its id inside the
// file and not met before on the path, its header naming it, a branch or
// leaf type, its elements, keys and values inside it and its overflow no
// longer than they need (bbolt frees a page with its overflow), its keys
// ascending, its first key the key its parent names it by and its last
// below the parent's next key. A page id damaged to name any other page
// fails one of them (another page's keys are another range). The same is
// done for each bucket's name in its parent, whose leaf bbolt rewrites
// when the bucket changes. A delete also checks each path page's
// neighbours, which bbolt's rebalance merges with a page a delete
// emptied, and frees. Cost: O(tree depth) pages a key, each page's own
// checks once a transaction.
//
// Not covered: the pages of a bucket a write deletes whole (DropBucket
// frees them all; the calls that drop run the file walk first); a page
// id damaged to name a page of another bucket that begins with the same
// key and ends below the next (two threads' bl/ share keys where their
// channels and versions are the same: nothing in a page says whose it
// is); a bucket's root id damaged to name any page of another bucket (a
// root has no parent key to begin with: every sound page passes; the
// commit frees the other bucket's page, TestH194WriteThroughADamaged-
// BucketRootIDKeepsTheOtherBucket, skipped: open); a page's overflow damaged lower (bbolt then
// leaks pages, loses none); the freelist (bbolt holds it in memory from
// Open on and writes it whole at each commit); damage to a page between
// the check and the commit; and a page id elsewhere damaged to name a
// page on the write's path, which the commit then frees and a later one
// reuses (TestH190WriteBesideADamagedPageIDKeepsTheFileReadable, skipped:
// only a walk of the file sees an id that names a page from outside).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// maxWriteDepth bounds a descent: a bbolt tree of a file below 2^64 bytes
// is far shallower, so a deeper path is damage (a cycle the path check
// missed cannot be longer).
const maxWriteDepth = 64

// writePaths is a write transaction's checked descents.
type writePaths struct {
	data    []byte // the file's pages below the high-water mark, mapped
	ps, hwm uint64
	root    *bolt.Bucket        // the transaction's root bucket
	checked map[uint64]struct{} // pages whose own checks passed
}

// mappedPages returns the pages of the file below tx's high-water mark as
// bbolt maps them. bbolt maps the file whole, its map reaches past the
// high-water mark, and it remaps only inside a commit, so the slice holds
// until tx commits or rolls back. The map's address comes as a uintptr
// (DB.Info); it is memory outside Go's heap, so reading it as a pointer
// is sound.
func mappedPages(tx *bolt.Tx) []byte {
	info := tx.DB().Info()
	base := *(*unsafe.Pointer)(unsafe.Pointer(&info.Data))
	return unsafe.Slice((*byte)(base), tx.Size())
}

// paths returns v's checked descents, made at the first write.
func (v *BoltView) paths() *writePaths {
	if v.writePaths == nil {
		ps := uint64(v.tx.DB().Info().PageSize)
		v.writePaths = &writePaths{
			data: mappedPages(v.tx), ps: ps, hwm: uint64(v.tx.Size()) / ps,
			root: v.tx.Cursor().Bucket(), checked: make(map[uint64]struct{}, 16),
		}
	}
	return v.writePaths
}

// checkName checks the path to name in bucket b (nil: the root), which
// holds or will hold a nested bucket a write changes.
func (v *BoltView) checkName(b *bolt.Bucket, name []byte) error {
	w := v.paths()
	if b == nil {
		b = w.root
	}
	return w.descend(uint64(b.Root()), name, false)
}

// checkKey checks the path to key in bucket b before a Put (del false)
// or a Delete (del: with the path's neighbours).
func (v *BoltView) checkKey(b *bolt.Bucket, key []byte, del bool) error {
	return v.paths().descend(uint64(b.Root()), key, del)
}

// descend checks the pages from root (0: an inline bucket, inside its
// parent's leaf, whose path was checked) to the leaf key lies in.
func (w *writePaths) descend(root uint64, key []byte, neighbours bool) error {
	if root == 0 {
		return nil
	}
	var onPath [maxWriteDepth]uint64
	var lo, hi []byte // the key the parent names the page by, the parent's next key
	id := root
	for depth := 0; ; depth++ {
		if depth == maxWriteDepth {
			return fmt.Errorf("%w: a path of pages deeper than %d (a damaged page id)", ErrCorrupt, maxWriteDepth)
		}
		for _, p := range onPath[:depth] {
			if p == id {
				return fmt.Errorf("%w: page %d names page %d above it: %w", ErrCorrupt, onPath[depth-1], id, errPageCycle)
			}
		}
		onPath[depth] = id
		pg, err := w.page(id)
		if err != nil {
			if depth > 0 {
				err = fmt.Errorf("%w (named by page %d)", err, onPath[depth-1])
			}
			return err
		}
		if err := w.bounds(pg, id, lo, hi); err != nil {
			return err
		}
		count := int(binary.LittleEndian.Uint16(pg[10:]))
		if binary.LittleEndian.Uint16(pg[8:]) == leafPageFlag {
			return nil
		}
		i := branchIndex(pg, count, key)
		if neighbours {
			for _, j := range []int{i - 1, i + 1} {
				if j >= 0 && j < count {
					if err := w.neighbour(pg, id, j, count, hi, onPath[:depth+1]); err != nil {
						return err
					}
				}
			}
		}
		lo = pageKey(pg, branchPageFlag, i)
		if i+1 < count {
			hi = pageKey(pg, branchPageFlag, i+1)
		}
		id = binary.LittleEndian.Uint64(pg[pageHeaderSize+i*elemSize+8:])
	}
}

// neighbour checks child j of branch page pg (page id): a page of its own,
// named by its first key, its keys below the next element's (or hi).
func (w *writePaths) neighbour(pg []byte, id uint64, j, count int, hi []byte, path []uint64) error {
	child := binary.LittleEndian.Uint64(pg[pageHeaderSize+j*elemSize+8:])
	for _, p := range path {
		if p == child {
			return fmt.Errorf("%w: page %d names page %d above it: %w", ErrCorrupt, id, child, errPageCycle)
		}
	}
	cp, err := w.page(child)
	if err != nil {
		return fmt.Errorf("%w (named by page %d)", err, id)
	}
	if j+1 < count {
		hi = pageKey(pg, branchPageFlag, j+1)
	}
	return w.bounds(cp, child, pageKey(pg, branchPageFlag, j), hi)
}

// bounds checks that page id (pg, its own checks passed) begins with lo,
// the key its parent names it by, and ends below hi, the parent's next
// key (nil: none). An empty page has no key to check (a bucket's root
// leaf once its keys are deleted).
func (w *writePaths) bounds(pg []byte, id uint64, lo, hi []byte) error {
	count := int(binary.LittleEndian.Uint16(pg[10:]))
	if count == 0 {
		return nil
	}
	flags := binary.LittleEndian.Uint16(pg[8:])
	if lo != nil && !bytes.Equal(pageKey(pg, flags, 0), lo) {
		return fmt.Errorf("%w: page %d: its first key %x is not the key its parent branch page names it by "+
			"(a damaged page id or key)", ErrCorrupt, id, pageKey(pg, flags, 0))
	}
	if hi != nil && bytes.Compare(pageKey(pg, flags, count-1), hi) >= 0 {
		return fmt.Errorf("%w: page %d: its last key %x is not below its parent's next key (a damaged page id or key)",
			ErrCorrupt, id, pageKey(pg, flags, count-1))
	}
	return nil
}

// pageKey returns the key of element i of page pg, whose type is flags
// (its elements passed page's checks).
func pageKey(pg []byte, flags uint16, i int) []byte {
	at := pageHeaderSize + i*elemSize
	e := pg[at : at+elemSize]
	var pos, ksize int
	if flags == branchPageFlag {
		pos, ksize = int(binary.LittleEndian.Uint32(e[0:])), int(binary.LittleEndian.Uint32(e[4:]))
	} else {
		pos, ksize = int(binary.LittleEndian.Uint32(e[4:])), int(binary.LittleEndian.Uint32(e[8:]))
	}
	return pg[at+pos : at+pos+ksize]
}

// branchIndex is the element of branch page pg bbolt's cursor descends
// through for key (Cursor.searchPage): the last whose key is at or below
// key, else the first.
func branchIndex(pg []byte, count int, key []byte) int {
	lo, hi := 0, count // the first element whose key is at or above key
	exact := false
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := bytes.Compare(pageKey(pg, branchPageFlag, m), key); {
		case c < 0:
			lo = m + 1
		default:
			exact = exact || c == 0
			hi = m
		}
	}
	if !exact && lo > 0 {
		lo--
	}
	return lo
}

// page returns page id's bytes with its overflow, after its own checks
// (once a transaction): inside the file, its header naming it, a branch
// (with elements) or leaf, its elements with their keys and values inside
// it, its overflow no longer than they need, its keys ascending.
func (w *writePaths) page(id uint64) ([]byte, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: page %d: %s (damaged under the open store)", ErrCorrupt, id, fmt.Sprintf(format, a...))
	}
	if id < 2 || id >= w.hwm {
		return nil, bad("outside the file's pages 2-%d", w.hwm-1)
	}
	h := w.data[id*w.ps:]
	overflow := uint64(binary.LittleEndian.Uint32(h[12:]))
	if overflow >= w.hwm-id {
		return nil, bad("its overflow %d reaches past the file's last page %d", overflow, w.hwm-1)
	}
	pg := w.data[id*w.ps : (id+overflow+1)*w.ps]
	if _, ok := w.checked[id]; ok {
		return pg, nil
	}
	if got := binary.LittleEndian.Uint64(pg); got != id {
		return nil, bad("its header says page %d", got)
	}
	flags, count := binary.LittleEndian.Uint16(pg[8:]), int(binary.LittleEndian.Uint16(pg[10:]))
	switch {
	case flags != branchPageFlag && flags != leafPageFlag:
		return nil, bad("unexpected type %#x", flags)
	case flags == branchPageFlag && count == 0:
		return nil, bad("a branch page without elements")
	case uint64(pageHeaderSize+count*elemSize) > uint64(len(pg)):
		return nil, bad("%d elements do not fit it", count)
	}
	end := uint64(pageHeaderSize + count*elemSize) // where its data ends
	var prev []byte
	for i := range count {
		at := uint64(pageHeaderSize + i*elemSize)
		e := pg[at : at+elemSize]
		var pos, size uint64
		if flags == branchPageFlag {
			pos, size = uint64(binary.LittleEndian.Uint32(e[0:])), uint64(binary.LittleEndian.Uint32(e[4:]))
		} else {
			pos = uint64(binary.LittleEndian.Uint32(e[4:]))
			size = uint64(binary.LittleEndian.Uint32(e[8:])) + uint64(binary.LittleEndian.Uint32(e[12:]))
		}
		if at+pos+size > uint64(len(pg)) {
			return nil, bad("element %d reaches past it", i)
		}
		end = max(end, at+pos+size)
		k := pageKey(pg, flags, i)
		if i > 0 && bytes.Compare(prev, k) >= 0 {
			return nil, bad("keys out of order at element %d", i)
		}
		prev = k
	}
	// bbolt writes a page on as many pages as its data needs, and frees
	// it with its overflow: one claiming more frees pages still in use.
	if overflow > 0 && end <= overflow*w.ps {
		return nil, bad("its overflow %d is longer than its %d bytes need", overflow, end)
	}
	w.checked[id] = struct{}{}
	return pg, nil
}
