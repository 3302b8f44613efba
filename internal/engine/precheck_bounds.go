package engine

// The page check's look across pages. checkKeyOrder compares the keys
// inside a page, and checkFirstKey each page's first key with the branch
// key that names it; neither sees a page's last key raised past the next
// page's first key (a flipped byte of the last key, the order inside the
// page kept). Every read and the checks above pass such a file, but bbolt
// places a write by the branch keys, so the damaged key stays where it
// is, and when deletes shrink the page after it bbolt merges that page
// into the damaged one: its keys then do not ascend, and a lookup misses
// keys the writes stored (TestCheckPagesRefusesAPageKeyPastTheNextPage:
// a key stored and never deleted was not found). So each page's keys must
// also sort before its bound: the key of the element after the one that
// names it in its parent branch page, or, for the last element, the
// parent's own bound (none at a bucket's root). The bound is noted when
// the parent's keys are compared (checkKeyOrder reads them anyway) and
// compared with the page's last key when the page is: a compare a page.
// Memory: eight bytes a page, as firstKeys, allocated at the first branch
// page, and the branch keys themselves, copied once each.

import (
	"bytes"
	"fmt"
)

// setBound notes that every key of page child must sort before key.
func (c *pageCheck) setBound(child uint64, key []byte) {
	if child >= c.hwm || len(key) >= 1<<16 {
		return // read refuses the page; bbolt refuses such a key
	}
	c.allocBounds()
	c.bounds[child] = uint64(len(c.boundKeys)+1)<<16 | uint64(len(key))
	c.boundKeys = append(c.boundKeys, key...)
}

// passBound gives page child the bound b (a page's own, from takeBound:
// the last child of a branch page shares its parent's).
func (c *pageCheck) passBound(child, b uint64) {
	if child >= c.hwm || b == 0 {
		return
	}
	c.allocBounds()
	c.bounds[child] = b
}

func (c *pageCheck) allocBounds() {
	if c.bounds == nil {
		c.bounds = make([]uint64, c.hwm)
	}
}

// takeBound returns page id's bound (0: none) and forgets it.
func (c *pageCheck) takeBound(id uint64) uint64 {
	if c.bounds == nil || id >= uint64(len(c.bounds)) {
		return 0
	}
	b := c.bounds[id]
	c.bounds[id] = 0
	return b
}

// boundKey is the key of bound b (not 0).
func (c *pageCheck) boundKey(b uint64) []byte {
	off := b>>16 - 1
	return c.boundKeys[off : off+b&0xffff]
}

// checkBound checks that last, the last key of page id, sorts before the
// page's bound b (0: none).
func (c *pageCheck) checkBound(id uint64, last []byte, b uint64) error {
	if b == 0 {
		return nil
	}
	if bound := c.boundKey(b); bytes.Compare(last, bound) >= 0 {
		return fmt.Errorf("%w: page %d: its last key %x does not sort before %x, the key its parent branch page names the page after it by "+
			"(a damaged key: a write would merge the next page into it, out of order)", ErrCorrupt, id, last, bound)
	}
	return nil
}

// clearBounds forgets every bound (the walk starts over after the sweep).
func (c *pageCheck) clearBounds() {
	clear(c.bounds)
	c.boundKeys = c.boundKeys[:0]
}
