package engine

// The page walk's reads. The walk (precheck.go) visits pages in tree
// order, one page-size ReadAt each: on a file the page cache does not
// hold, that is a random 4 KiB read per page, and a cold Open of a 2 GB
// store spent over a minute in it (bench/RESULTS.md, "Cold Open: the page
// walk's reads"). So the check first sweeps: it keeps the pages still to
// visit in a bitset and reads them in file order, a run of pages no more
// than sweepGap apart in one ReadAt of at most sweepRun, making on each
// page the walk's checks and adding the pages it names, pass after pass
// (a page naming one behind it is read in the next pass) until none is
// left. Memory: one more bit per page and one run's buffer.
//
// The walk's verdict on a file does not depend on the order it visits
// pages in: it passes exactly when every page reached passes its own
// checks and no page is reached twice or lies in another's overflow (a
// cycle reaches a page twice), and a visit in any order reaches the same
// pages and meets the same conflicts. So when the sweep meets nothing
// wrong, the walk would not either, and the sweep's bitset of pages seen
// is the walk's. At the first thing wrong (a page failing a check, a page
// reached twice, a failed read) the sweep gives up and the walk runs as
// before, in tree order: which page an error names, and whether it is a
// cycle, stay the walk's. A damaged file pays the random reads; a sound
// one, the common case, does not.

import (
	"encoding/binary"
	"math/bits"
)

// sweepGap and sweepRun bound a sweep's reads: wanted pages at most
// sweepGap bytes apart share a read (reading the gap costs less than
// another read's latency on a disk), and a read is at most sweepRun bytes
// (one page at least). Measured on a 2 GB store: bench/RESULTS.md.
const (
	sweepGap = 128 << 10
	sweepRun = 1 << 20
)

// sweep visits the tree from root in file order (see above). It reports
// whether every page passed; then c.seen holds the pages reached, as the
// walk leaves it. Otherwise c.seen is left part-filled.
func (c *pageCheck) sweep(root uint64) bool {
	want := make([]uint64, len(c.seen)) // reached, not yet read
	pending := 0
	claimed := func(p uint64) bool { return (c.seen[p/64]|want[p/64])&(1<<(p%64)) != 0 }
	add := func(p uint64) bool {
		if p < 2 || p >= c.hwm || claimed(p) {
			return false
		}
		want[p/64] |= 1 << (p % 64)
		pending++
		return true
	}
	if !add(root) {
		return false
	}
	gap := uint64(sweepGap) / c.ps
	run := max(1, uint64(sweepRun)/c.ps)
	// No read is longer than the file's pages (below c.hwm), so a small
	// file's sweep needs no sweepRun buffer: every Open runs this sweep,
	// and its 1 MiB for a file of a few pages was a third of all the
	// engine package's tests allocated under -race (7.8 of 25 GB).
	buf := make([]byte, min(run, c.hwm)*c.ps)
	for pending > 0 { // a pass
		for p := nextBit(want, 0, c.hwm); p < c.hwm; p = nextBit(want, p, c.hwm) {
			start, end := p, p+1 // the read: pages [start, end)
			for {
				q := nextBit(want, end, c.hwm)
				if q >= c.hwm || q-end > gap || q+1-start > run {
					break
				}
				end = q + 1
			}
			b := buf[:(end-start)*c.ps]
			if _, err := c.f.ReadAt(b, int64(start*c.ps)); err != nil {
				return false // the walk reads again and reports it
			}
			// Pages a page here names further on in the run are read from b
			// in this loop too.
			for q := start; q < end; q++ {
				if want[q/64]&(1<<(q%64)) == 0 {
					continue
				}
				want[q/64] &^= 1 << (q % 64)
				pending--
				if !c.sweepPage(q, b[(q-start)*c.ps:], add, claimed) {
					return false
				}
			}
			p = end
		}
	}
	return true
}

// sweepPage makes the walk's checks (read, page, elements) on branch or
// leaf page id, whose bytes b begins with (at least its first page; more
// are read where its elements need them), marks it and its overflow seen,
// and adds the pages it names. It reports whether all of that passed.
func (c *pageCheck) sweepPage(id uint64, b []byte, add func(uint64) bool, claimed func(uint64) bool) bool {
	const want = branchPageFlag | leafPageFlag
	if binary.LittleEndian.Uint64(b[0:]) != id {
		return false
	}
	flags := binary.LittleEndian.Uint16(b[8:])
	count := binary.LittleEndian.Uint16(b[10:])
	overflow := uint64(binary.LittleEndian.Uint32(b[12:]))
	if !oneTypeOf(flags, want) || id+overflow >= c.hwm {
		return false
	}
	c.seen[id/64] |= 1 << (id % 64)
	for p := id + 1; p <= id+overflow; p++ {
		if claimed(p) {
			return false
		}
		c.seen[p/64] |= 1 << (p % 64)
	}
	limit := (overflow + 1) * c.ps
	b = b[:min(uint64(len(b)), limit)]
	b, err := c.extend(b, id, pageHeaderSize+uint64(count)*elemSize, limit, "branch or leaf")
	if err != nil {
		return false
	}
	bound := c.takeBound(id)
	children, err := c.elements(b, id, flags, count, limit, 0)
	if err != nil || c.checkFirstKey(id, b, count, limit) != nil || c.checkKeyOrder(id, b, flags, count, bound) != nil {
		return false
	}
	for _, ch := range children {
		if !add(ch) {
			return false
		}
	}
	return true
}

// nextBit returns the first set bit of set at or after from, or end if
// none is before end.
func nextBit(set []uint64, from, end uint64) uint64 {
	for from < end {
		w := set[from/64] >> (from % 64)
		if w != 0 {
			return min(from+uint64(bits.TrailingZeros64(w)), end)
		}
		from = (from/64 + 1) * 64
	}
	return end
}
