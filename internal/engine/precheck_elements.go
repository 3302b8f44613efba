package engine

// The page check's look inside a branch or leaf page: its elements, and
// the inline buckets a leaf's elements carry (precheck.go).

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
)

// errBadBucket marks a damaged bucket element (a leaf element flagged as a
// bucket whose value reaches past its page or is too short for a bucket)
// or a damaged inline bucket. Unlike other damage, a read-only read cannot
// be left to meet it under Guard: bbolt opens a bucket by copying its
// value when it is not 8-byte aligned (Bucket.openBucket), so a damaged
// size makes a copy of up to 4 GiB, and an inline page's element that
// points outside that copy is, in a race build, a fatal error of the
// runtime's pointer checks (checkptr); an inline page typed other than
// leaf has bbolt's cursor descend into the same page for ever (its
// children are page 0, the inline page itself), growing its stack
// without end. So even a read-only Open refuses it (refuseCycles).
var errBadBucket = errors.New("a damaged bucket")

// page checks branch or leaf page id, marks it and its overflow seen, and
// passes the pages its elements name to descend (and whether it is a
// branch page, whose children are in its own tree): all of them if its
// elements pass, else those of the elements that did (see elements).
func (c *pageCheck) page(id uint64, descend func(children []uint64, branch bool)) error {
	flags, count, overflow, buf, err := c.read(id, branchPageFlag|leafPageFlag, "branch or leaf")
	if err != nil {
		return err
	}
	for p := id; p <= id+overflow; p++ {
		if c.seen[p/64]&(1<<(p%64)) != 0 {
			return fmt.Errorf("%w: page %d is reached twice (in page %d's overflow)", ErrCorrupt, p, id)
		}
		c.seen[p/64] |= 1 << (p % 64)
	}
	limit := (overflow + 1) * c.ps
	if buf, err = c.extend(buf, id, pageHeaderSize+uint64(count)*elemSize, limit, "branch or leaf"); err != nil {
		return err
	}
	bound := c.takeBound(id)
	children, err := c.elements(buf, id, flags, count, limit, 0)
	descend(children, flags == branchPageFlag)
	if err == nil {
		err = c.checkFirstKey(id, buf, count, limit)
	}
	if err == nil {
		err = c.checkKeyOrder(id, buf, flags, count, bound)
	}
	return err
}

// elements checks the elements of page id (buf holds at least its element
// array; limit is the page's extent) and returns the pages they lead to:
// a branch's children, a leaf's bucket roots (inline buckets checked in
// place). inline is how many inline buckets buf lies in. A damaged
// element does not end the check: the others are checked too (a read-only
// Open reads them, and must refuse a damaged bucket among them), and the
// pages they name are returned with the error, the first damaged bucket's
// (errBadBucket) if any, else the first.
func (c *pageCheck) elements(buf []byte, id uint64, flags, count uint16, limit uint64, inline int) ([]uint64, error) {
	var next []uint64
	var first, bucketErr error
	for i := range uint64(count) {
		at := pageHeaderSize + i*elemSize
		e := buf[at : at+elemSize]
		if flags == branchPageFlag {
			pos, ksize := uint64(binary.LittleEndian.Uint32(e[0:])), uint64(binary.LittleEndian.Uint32(e[4:]))
			if at+pos+ksize > limit {
				first = cmp.Or(first, fmt.Errorf("%w: branch page %d: element %d's key reaches past the page", ErrCorrupt, id, i))
			} else {
				var err error
				if buf, err = c.extend(buf, id, at+pos+ksize, limit, "branch"); err != nil {
					return next, err // a read failed (the key is inside the page)
				}
				c.expectKey(binary.LittleEndian.Uint64(e[8:]), buf[at+pos:at+pos+ksize])
			}
			// The child's id lies in the element, inside the page: a
			// read descends to it whatever the key.
			next = append(next, binary.LittleEndian.Uint64(e[8:]))
			continue
		}
		eflags := binary.LittleEndian.Uint32(e[0:])
		pos, ksize, vsize := uint64(binary.LittleEndian.Uint32(e[4:])), uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		isBucket := eflags&bucketLeafFlag != 0
		end := at + pos + ksize + vsize
		if end > limit {
			err := fmt.Errorf("%w: leaf page %d: element %d's key and value reach past the page", ErrCorrupt, id, i)
			if isBucket {
				err = fmt.Errorf("%w: leaf page %d: bucket element %d's key and value reach past the page (%w)", ErrCorrupt, id, i, errBadBucket)
				bucketErr = cmp.Or(bucketErr, err)
			}
			first = cmp.Or(first, err)
			continue
		}
		if !isBucket {
			continue
		}
		var err error
		if buf, err = c.extend(buf, id, end, limit, "leaf"); err != nil {
			return next, err // a read failed (end is inside the page)
		}
		sub, err := c.bucket(buf[at+pos+ksize:end], id, i, inline)
		if err != nil {
			if !errors.Is(err, errBadBucket) {
				err = fmt.Errorf("%w (%w)", err, errBadBucket)
			}
			bucketErr = cmp.Or(bucketErr, err)
			first = cmp.Or(first, err)
			continue
		}
		next = append(next, sub...)
	}
	return next, cmp.Or(bucketErr, first)
}

// bucket checks v, the bucket value of element i of page id, and returns
// its root page, or the pages named inside it if it is an inline bucket.
func (c *pageCheck) bucket(v []byte, id, i uint64, inline int) ([]uint64, error) {
	if len(v) < bucketHeaderSize {
		return nil, fmt.Errorf("%w: leaf page %d: element %d: a bucket of %d bytes", ErrCorrupt, id, i, len(v))
	}
	if root := binary.LittleEndian.Uint64(v); root != 0 {
		return []uint64{root}, nil
	}
	// An inline bucket: a leaf page inside the value. bbolt never writes
	// one inside another (a bucket holding a bucket is not inlineable),
	// and checking one calls elements again: a forged value nesting
	// millions deep would overflow the goroutine stack, a fatal error,
	// not a panic.
	if inline >= maxInlineNesting {
		return nil, fmt.Errorf("%w: leaf page %d: element %d: inline buckets nested more than %d deep", ErrCorrupt, id, i, maxInlineNesting)
	}
	in := v[bucketHeaderSize:]
	if len(in) < pageHeaderSize {
		return nil, fmt.Errorf("%w: leaf page %d: element %d: an inline bucket of %d bytes", ErrCorrupt, id, i, len(in))
	}
	icount := binary.LittleEndian.Uint16(in[10:])
	if iflags := binary.LittleEndian.Uint16(in[8:]); iflags != leafPageFlag {
		return nil, fmt.Errorf("%w: leaf page %d: element %d: an inline bucket of type %#x", ErrCorrupt, id, i, iflags)
	}
	if pageHeaderSize+uint64(icount)*elemSize > uint64(len(in)) {
		return nil, fmt.Errorf("%w: leaf page %d: element %d: an inline bucket's elements reach past it", ErrCorrupt, id, i)
	}
	return c.elements(in, id, leafPageFlag, icount, uint64(len(in)), inline+1)
}
