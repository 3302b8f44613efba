package engine

// The page check's look at branch keys. bbolt finds a child page in its
// parent by the child's first key: a write that changes the child
// replaces the parent's element whose key equals the key the child
// started with (node.spill's parent.put). A branch key that differs from
// its child's first key, the order kept (a flipped low byte), passes
// every other check and every read, but a write there adds a second
// element for the child and a later commit frees a page still in use:
// the freelist then hands a live page to the next write, and what it
// held is overwritten (TestWritesOnADamagedBranchKeyAreRefusedOrKept:
// 40 Puts, a GC and Close returned nil on such a file, and the next
// Open found the freelist naming a live page free). So the check a
// read-write Open runs (CheckPages) compares each branch element's key
// with its child's first key: the walk and the sweep read each child page
// anyway, so the cost is a hash of one key per page. Verify runs the same
// walk (TouchAll's checkTx) before bbolt's page check, which leaves keys
// out. A read-only Open does not refuse such a file (reads
// follow the pages and find every key).

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"io"
)

// expectKey notes that page child must begin with key (a branch element
// names it by key). The hash, never 0 (0: nothing expected), is kept per
// page: eight bytes a page, allocated at the first branch page.
func (c *pageCheck) expectKey(child uint64, key []byte) {
	if child >= c.hwm {
		return // read refuses it
	}
	if c.firstKeys == nil {
		c.keySeed = maphash.MakeSeed()
		c.firstKeys = make([]uint64, c.hwm)
	}
	c.firstKeys[child] = maphash.Bytes(c.keySeed, key) | 1
}

// checkFirstKey checks that branch or leaf page id (buf holds its first
// bytes, limit its extent with the overflow; its element array is in
// buf and passed the element checks) begins with the key its parent
// names it by, if it has a parent and elements (an empty page has no key
// to find it by; Verify passes it over too).
func (c *pageCheck) checkFirstKey(id uint64, buf []byte, count uint16, limit uint64) error {
	if c.firstKeys == nil || c.firstKeys[id] == 0 || count == 0 {
		return nil
	}
	want := c.firstKeys[id]
	c.firstKeys[id] = 0
	e := buf[pageHeaderSize : pageHeaderSize+elemSize]
	var pos, ksize uint64
	if binary.LittleEndian.Uint16(buf[8:]) == branchPageFlag {
		pos, ksize = uint64(binary.LittleEndian.Uint32(e[0:])), uint64(binary.LittleEndian.Uint32(e[4:]))
	} else {
		pos, ksize = uint64(binary.LittleEndian.Uint32(e[4:])), uint64(binary.LittleEndian.Uint32(e[8:]))
	}
	end := pageHeaderSize + pos + ksize
	buf, err := c.extend(buf, id, end, limit, "branch or leaf")
	if err != nil {
		return err
	}
	if maphash.Bytes(c.keySeed, buf[end-ksize:end])|1 != want {
		return misnamedError{fmt.Errorf("%w: page %d: its first key %x is not the key its parent branch page names it by "+
			"(a damaged branch key: a write there would free a page still in use)", ErrCorrupt, id, buf[end-ksize:end])}
	}
	return nil
}

// checkKeyOrder checks that the keys of branch or leaf page id (buf holds
// its first bytes, at least its element array, which passed the element
// checks) ascend. bbolt keeps no checksum of a page, and a key damaged
// out of its place in the middle of a page (a flipped id byte, a flipped
// element position) passes every other check, and reads meet it as out
// of order (outOfPlace) or seek round it. But a write into the page
// places each new key by a binary search over the page's keys
// (node.put), which the damaged one misleads: new keys went in out of
// place, the page was written so, and a later List with a limit walked
// a stretch in order that missed the entries placed elsewhere, with no
// error (TestH175RaisedIndexKeyThenWrites: another thread's entries where
// p1's stood). So a read-write Open refuses the page before any write
// spreads the damage; a read-only Open reads it as it can. The cost is a
// compare of each key with the one before, in bytes the check reads
// anyway: a key past them (in the overflow of a page with large values)
// is read alone.
//
// bound is the page's bound (precheck_bounds.go; 0: none), which its last
// key must sort before; a branch page passes bounds on to its children.
func (c *pageCheck) checkKeyOrder(id uint64, buf []byte, flags, count uint16, bound uint64) error {
	var prev []byte
	var prevChild uint64
	for i := range uint64(count) {
		at := pageHeaderSize + i*elemSize
		e := buf[at : at+elemSize]
		var pos, ksize uint64
		if flags == branchPageFlag {
			pos, ksize = uint64(binary.LittleEndian.Uint32(e[0:])), uint64(binary.LittleEndian.Uint32(e[4:]))
		} else {
			pos, ksize = uint64(binary.LittleEndian.Uint32(e[4:])), uint64(binary.LittleEndian.Uint32(e[8:]))
		}
		var key []byte
		if end := at + pos + ksize; end <= uint64(len(buf)) {
			key = buf[at+pos : end]
		} else {
			// Two buffers in turn: prev may be the one read before.
			s := &c.keyBufs[i%2]
			if uint64(cap(*s)) < ksize {
				*s = make([]byte, ksize)
			}
			key = (*s)[:ksize]
			if _, err := c.f.ReadAt(key, int64(id*c.ps+at+pos)); err != nil && err != io.EOF {
				return err
			}
		}
		if i > 0 && bytes.Compare(prev, key) >= 0 {
			return fmt.Errorf("%w: page %d: key %d (%x) does not sort after the key before it (%x): its keys are out of order "+
				"(a damaged key or element; a write there would place new keys by it, out of order)", ErrCorrupt, id, i, key, prev)
		}
		if flags == branchPageFlag {
			if i > 0 {
				c.setBound(prevChild, key)
			}
			prevChild = binary.LittleEndian.Uint64(e[8:])
		}
		prev = key
		if flags != branchPageFlag && binary.LittleEndian.Uint32(e[0:])&bucketLeafFlag != 0 {
			if err := c.checkInlineOrder(id, buf, at+pos+ksize, uint64(binary.LittleEndian.Uint32(e[12:]))); err != nil {
				return err
			}
		}
	}
	if count == 0 {
		return nil
	}
	if flags == branchPageFlag {
		c.passBound(prevChild, bound)
	}
	return c.checkBound(id, prev, bound)
}

// checkInlineOrder checks the key order of the inline bucket, if it is
// one, whose value is vsize bytes at byte at of page id (buf holds the
// page's first bytes). A write into an inline bucket places its keys by
// the same binary search as into a page (TestCheckPagesRefusesKeysOutOfOrderInAnInlineBucket).
// The value passed the element checks (elements): it lies inside the
// page, and an inline page inside it has its elements and keys inside it,
// so the check of its keys reads nothing more.
func (c *pageCheck) checkInlineOrder(id uint64, buf []byte, at, vsize uint64) error {
	if vsize < bucketHeaderSize+pageHeaderSize {
		return nil // elements refuses it
	}
	var v []byte
	if at+vsize <= uint64(len(buf)) {
		v = buf[at : at+vsize]
	} else {
		// In the overflow, past the bytes read: a bucket's root id alone
		// for a bucket of its own pages, the inline page for one inline.
		if uint64(cap(c.inlineBuf)) < vsize {
			c.inlineBuf = make([]byte, vsize)
		}
		v = c.inlineBuf[:vsize]
		if _, err := c.f.ReadAt(v, int64(id*c.ps+at)); err != nil && err != io.EOF {
			return err
		}
	}
	if binary.LittleEndian.Uint64(v) != 0 {
		return nil // its own pages, checked as pages
	}
	in := v[bucketHeaderSize:]
	return c.checkKeyOrder(id, in, binary.LittleEndian.Uint16(in[8:]), binary.LittleEndian.Uint16(in[10:]), 0)
}
