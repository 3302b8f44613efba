package engine

// The page check's look at key order, for a file whose last commit wrote
// no free list (bbolt's NoFreelistSync; the root package refuses the
// option, but a file can come from another program). bbolt rebuilds such
// a file's free list when it first needs it (a read-write Open, a
// rolled-back write, Tx.Check on a read-only handle): DB.freepages walks
// every bucket's pages on a goroutine of its own, checking their keys'
// order, and panics at the first damage it reports; the panic's unwinding
// closes the walk's transaction while the walker goes on reading through
// it, and the walker dies on a nil pointer, which no recover reaches: the
// process ends (TestUnsyncedFreelistOnADamagedFileIsRefusedAndTheProcessLives).
// A file whose free list was written never takes that walk, and reads
// around keys out of order as they can, so the order is checked only
// where bbolt would check it: the same rules, in the same pages, so that
// what passes here passes there.

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxTreeHeight bounds a bucket's tree: far above what any file's height
// reaches (a page holds at least two keys), and a guard in case the walk
// that ran before (which refuses cycles) missed one.
const maxTreeHeight = 64

// keyOrder checks the key order of every bucket reachable from the root
// bucket whose root page is root, as bbolt's Tx.recursivelyCheckBucket
// does: inline buckets (and what they hold) are passed over, as bbolt
// does. It runs after the walk (or sweep) passed, so every page it reads
// lies in the file and holds its elements.
func (c *pageCheck) keyOrder(root uint64) error {
	buckets := []uint64{root}
	for len(buckets) > 0 {
		b := buckets[len(buckets)-1]
		buckets = buckets[:len(buckets)-1]
		if _, err := c.orderIn(b, nil, nil, 0, &buckets); err != nil {
			return err
		}
	}
	return nil
}

// orderIn checks the keys of page id and the pages under it: each at
// least minClosed (if not nil), below maxOpen (if not nil), and above the
// one before (for a branch element, above the largest key under the
// element before it): bbolt's recursivelyCheckPageKeyOrderInternal and
// verifyKeyOrder. It returns the largest key under id, and appends the
// root pages of the (not inline) buckets its leaves hold to buckets.
func (c *pageCheck) orderIn(id uint64, minClosed, maxOpen []byte, depth int, buckets *[]uint64) ([]byte, error) {
	if depth > maxTreeHeight {
		return nil, fmt.Errorf("%w: page %d lies deeper than %d pages in its bucket's tree", ErrCorrupt, id, maxTreeHeight)
	}
	flags, keys, children, err := c.pageKeys(id, buckets)
	if err != nil {
		return nil, err
	}
	bad := func(i int, what string) error {
		return fmt.Errorf("%w: page %d: key %d (%x) %s: its page's keys are out of order, "+
			"and the file's free list was not written (bbolt rebuilds it by walking the pages, and stops at this)", ErrCorrupt, id, i, keys[i], what)
	}
	prev := minClosed
	var largest []byte
	for i, key := range keys {
		switch {
		case i == 0 && prev != nil && bytes.Compare(prev, key) > 0:
			return nil, bad(i, "sorts before the key its parent names the page by")
		case i > 0 && bytes.Compare(prev, key) >= 0:
			return nil, bad(i, "does not sort after the key before it")
		case maxOpen != nil && bytes.Compare(key, maxOpen) >= 0:
			return nil, bad(i, "does not sort before the key its parent names the next page by")
		}
		if flags != branchPageFlag {
			prev, largest = key, key
			continue
		}
		limit := maxOpen
		if i+1 < len(keys) {
			limit = keys[i+1]
		}
		if largest, err = c.orderIn(children[i], key, limit, depth+1, buckets); err != nil {
			return nil, err
		}
		prev = largest
	}
	return largest, nil
}

// pageKeys reads page id's keys (copies: the page buffer is reused) and,
// for a branch page, its children; for a leaf page it appends the root
// pages of the buckets it holds, but not inline ones (root 0), to buckets.
func (c *pageCheck) pageKeys(id uint64, buckets *[]uint64) (flags uint16, keys [][]byte, children []uint64, err error) {
	flags, count, overflow, buf, err := c.read(id, branchPageFlag|leafPageFlag, "branch or leaf")
	if err != nil {
		return 0, nil, nil, err
	}
	limit := (overflow + 1) * c.ps
	keys = make([][]byte, count)
	for i := range uint64(count) {
		at := pageHeaderSize + i*elemSize
		if buf, err = c.extend(buf, id, at+elemSize, limit, "branch or leaf"); err != nil {
			return 0, nil, nil, err
		}
		e := buf[at : at+elemSize]
		var pos, ksize, vsize uint64
		bucket := false
		if flags == branchPageFlag {
			pos, ksize = uint64(binary.LittleEndian.Uint32(e[0:])), uint64(binary.LittleEndian.Uint32(e[4:]))
			children = append(children, binary.LittleEndian.Uint64(e[8:]))
		} else {
			bucket = binary.LittleEndian.Uint32(e[0:])&bucketLeafFlag != 0
			pos, ksize, vsize = uint64(binary.LittleEndian.Uint32(e[4:])), uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		}
		end := at + pos + ksize
		if bucket {
			end += min(vsize, 8)
		}
		if buf, err = c.extend(buf, id, end, limit, "branch or leaf"); err != nil {
			return 0, nil, nil, err
		}
		keys[i] = bytes.Clone(buf[at+pos : at+pos+ksize])
		if bucket && vsize >= 8 {
			if root := binary.LittleEndian.Uint64(buf[at+pos+ksize:]); root != 0 {
				*buckets = append(*buckets, root)
			}
		}
	}
	return flags, keys, children, nil
}
