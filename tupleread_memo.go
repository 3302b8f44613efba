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

// The tuples of a List page read the same list segments: a list channel
// changes at every step (a message appended), so its version, and its blob
// key, differ from one tuple to the next, but every tuple's value is a
// prefix of the same lineage's items, newest first the longest. A walk
// over the segments (listPieces) read and checked each segment record
// again for every tuple: the record sums were a fifth of a List of 10's
// instructions (R3). The reader notes the segments a walk checked, by
// lineage, and the next tuple of the page needing no more items than they
// hold gathers its prefix from them: checked in the same read, whose
// snapshot does not change under it. A tuple needing more (an older
// checkpoint listed after a newer one only when a lineage forked) walks
// the segments again.

// lineageMemo is the first segments of one lineage (thread: the reader's),
// from item 0 on, as a walk found them, checked and not sealed.
type lineageMemo struct {
	ns, ch  string
	lineage uint64
	covered int // items in segs
	segs    []segmentRef
}

// segmentRef is one segment of a lineageMemo: count items, in the read's
// snapshot.
type segmentRef struct {
	count int
	items []byte
}

// maxLineageMemos bounds the lineages a reader remembers: a thread's list
// channels, each one lineage until it forks.
const maxLineageMemos = 8

// lineageMemoOf returns the memory of (ns, ch, lineage), made empty
// (covered 0) when there is none, in place of the oldest made when full.
func (t *tupleReader) lineageMemoOf(ns, ch string, lineage uint64) *lineageMemo {
	for i := range t.lineages {
		if m := &t.lineages[i]; m.lineage == lineage && m.ch == ch && m.ns == ns {
			return m
		}
	}
	var m *lineageMemo
	switch {
	case len(t.lineages) < min(cap(t.lineages), maxLineageMemos):
		// Its room kept: segs, grown by an earlier read of the pooled
		// reader, is not made again (appending a lineageMemo{} would drop it).
		t.lineages = t.lineages[:len(t.lineages)+1]
		m = &t.lineages[len(t.lineages)-1]
	case len(t.lineages) < maxLineageMemos:
		t.lineages = append(t.lineages, lineageMemo{})
		m = &t.lineages[len(t.lineages)-1]
	default:
		copy(t.lineages, t.lineages[1:])
		m = &t.lineages[len(t.lineages)-1]
		m.segs = nil // its room went to its neighbour
	}
	m.ns, m.ch, m.lineage, m.covered = ns, ch, lineage, 0
	clear(m.segs[:cap(m.segs)])
	m.segs = m.segs[:0]
	return m
}

// recallPieces gathers the first t.walk.n items of m's lineage (m covers
// them) as listPieces does, from the segments m holds.
func (t *tupleReader) recallPieces(m *lineageMemo, ch string, from int) bool {
	for _, s := range m.segs {
		if t.walk.covered >= t.walk.n {
			break
		}
		if err := t.take(s.count, s.items); err != nil {
			t.pieces = t.pieces[:from]
			return false // the general path says what is wrong
		}
	}
	t.parts = append(t.parts, valuePart{channel: ch, n: t.walk.n, from: from, to: len(t.pieces)})
	return true
}

// forgetLineages empties the lineage memory, dropping its references into
// the snapshot but keeping its room.
func (t *tupleReader) forgetLineages() {
	for i := range t.lineages[:cap(t.lineages)] {
		m := &t.lineages[:cap(t.lineages)][i]
		clear(m.segs[:cap(m.segs)])
		m.ns, m.ch, m.segs, m.covered = "", "", m.segs[:0], 0
	}
	t.lineages = t.lineages[:0]
}
