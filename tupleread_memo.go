package ckpt

// A List page's tuples share blobs: a channel that did not change between
// two checkpoints has the same version in both, so the same blob record
// (the bench's W1: a 1 KiB context written once, in every checkpoint). A
// tupleReader remembers where the previous tuple's values were in the
// snapshot, by blob key (namespace, channel, version; the thread is the
// reader's), and gathers the same bytes again instead of reading and
// checking the record again: they were checked (checksum, then decoding)
// when read, in the same snapshot, which does not change under a read.
// Each tuple still gets its own copy (copyOut).

// blobMemo is where one channel's value was found: the pieces of the
// snapshot it is made of, after a list header for n items when n >= 0.
type blobMemo struct {
	ns, ch, ver string
	n           int
	pieces      [][]byte
	room        [2][]byte // pieces' first room: a reader made anew (its pool emptied by a GC) allocates none for a W1 tuple
}

// recalled gathers the value of (ns, ch, ver) as the previous tuple found
// it, and reports whether it did.
func (t *tupleReader) recalled(ns, ch, ver string) bool {
	for i := range t.memo {
		if m := &t.memo[i]; m.ver == ver && m.ch == ch && m.ns == ns {
			from := len(t.pieces)
			t.pieces = append(t.pieces, m.pieces...)
			t.parts = append(t.parts, valuePart{channel: ch, n: m.n, from: from, to: len(t.pieces)})
			t.remember(ns, ch, ver, from)
			return true
		}
	}
	return false
}

// remember notes, for the next tuple, that the value of (ns, ch, ver) is
// t.pieces[from:], the last part gathered.
func (t *tupleReader) remember(ns, ch, ver string, from int) {
	var m *blobMemo
	if len(t.nextMemo) < cap(t.nextMemo) {
		t.nextMemo = t.nextMemo[:len(t.nextMemo)+1]
		m = &t.nextMemo[len(t.nextMemo)-1]
	} else {
		t.nextMemo = append(t.nextMemo, blobMemo{})
		m = &t.nextMemo[len(t.nextMemo)-1]
	}
	m.ns, m.ch, m.ver, m.n = ns, ch, ver, t.parts[len(t.parts)-1].n
	m.pieces = append(m.pieces[:0], t.pieces[from:]...)
}

// turnMemo makes what the tuple just read the memory of the next one.
// The old memory is emptied, not cleared: what it still points to is in
// the read's snapshot, alive until the read ends (release clears it).
func (t *tupleReader) turnMemo() {
	t.memo, t.nextMemo = t.nextMemo, t.memo[:0]
}

// forgetMemo empties *m, dropping its references into the snapshot and
// the strings of the tuples it came from, but keeping its room.
func (t *tupleReader) forgetMemo(m *[]blobMemo) {
	all := (*m)[:cap(*m)]
	for i := range all {
		e := &all[i]
		clear(e.pieces[:cap(e.pieces)])
		clear(e.room[:])
		e.ns, e.ch, e.ver, e.pieces = "", "", "", e.pieces[:0]
	}
	*m = (*m)[:0]
}

// A list channel's value at an older checkpoint is a prefix of the
// lineage's items, often ending inside a folded segment: each tuple of a
// List page cuts the same segment at its own count, and finding a cut
// reads through every item before it (itemsLen: a tenth of R4's
// instructions). The reader keeps the item ends it found in the last
// segment it cut, so that the next tuple's cut, further back in the same
// segment, is a lookup.

// itemEnds is where the items of one segment's bytes end: ends[i] is the
// length of its first i+1 items.
type itemEnds struct {
	items []byte // the segment's items, in the read's snapshot
	ends  []int
}

// cutItems returns itemsLen(p, k), from the ends found in p before when
// p is the segment cut last.
func (t *tupleReader) cutItems(p []byte, k int) (int, error) {
	if !t.listing || k <= 0 || len(p) == 0 {
		return itemsLen(p, k)
	}
	c := &t.cut
	if len(c.items) != len(p) || &c.items[0] != &p[0] {
		c.items, c.ends = p, c.ends[:0]
	}
	if k <= len(c.ends) {
		return c.ends[k-1], nil
	}
	fr := mpReader{b: p}
	if n := len(c.ends); n > 0 {
		fr.i = c.ends[n-1]
	}
	for len(c.ends) < k {
		if _, ok := fr.skip(); !ok {
			c.items, c.ends = nil, c.ends[:0]
			return itemsLen(p, k) // its slow path says what is wrong
		}
		c.ends = append(c.ends, fr.i)
	}
	return fr.i, nil
}
