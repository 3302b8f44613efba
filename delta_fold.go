package ckpt

// Folding a list lineage's trailing segments (delta.go): K deltas into one
// segment of level 1, K segments of one level into one of the next.

import "bytes"

// appendItems writes items [start, start+count) as a delta, then folds
// the trailing deltas when there are K of them or they grew large, and
// with them the trailing segments of each next level that then holds K
// (foldPlan). tail, if known, is the lineage's end before the append (it
// ends at start): when it says no fold is due, the trailing segments are
// not scanned again.
func (l lineage) appendItems(w writer, start, count int, items []byte, foldK int, tail lineageTail) error {
	k := segmentKey(l.ns, l.channel, l.id, start)
	if err := w.Put(l.path(), k, encodeSegment(l.kr, l.thread, l.seed, k, count, 0, items)); err != nil {
		return err
	}
	if n, size := tail.run+1, tail.bytes+len(items); tail.known && (n < 2 || n < foldK && size < foldBytes) {
		return nil // the scan below would find these and fold nothing
	}
	// The trailing segments, newest first, group by group (a level's),
	// until a group that does not fold: a fold merges a suffix of them.
	plan := foldPlan{k: foldK}
	err := w.Scan(l.path(), l.prefix(), nil, true, func(k, v []byte) error {
		seg, err := decodeSegment(l.seed, k, v)
		if err != nil {
			return err
		}
		if seg.items, err = l.openItems(seg); err != nil {
			return err
		}
		return keepScanning(plan.add(seg))
	})
	if err != nil {
		return err
	}
	plan.end()
	if plan.n == 0 {
		return nil
	}
	// Copy the items out before changing the bucket: bbolt's slices die
	// with the page they point into.
	run := plan.trail[:plan.n]
	size := 0
	for _, seg := range run {
		size += len(seg.items)
	}
	merged := make([]byte, 0, size)
	total := 0
	for i := len(run) - 1; i >= 0; i-- {
		merged = append(merged, run[i].items...)
		total += run[i].count
	}
	keys := make([][]byte, len(run))
	for i, seg := range run {
		keys[i] = bytes.Clone(seg.key)
	}
	first := keys[len(keys)-1]
	if _, err := delAll(w, l.path(), keys[:len(keys)-1]); err != nil {
		return err
	}
	return w.Put(l.path(), first, encodeSegment(l.kr, l.thread, l.seed, first, total, foldedFlags(plan.level), merged))
}

// maxFoldedBytes bounds what a fold above the deltas merges: past it the
// segments of a level stay apart (a huge list is read in segments of about
// this size), so that no step rewrites more than this of a list's history.
const maxFoldedBytes = 4 * foldBytes

// foldPlan decides, segment by segment from the newest, which trailing
// segments fold into one: the deltas when there are K of them (or they
// hold foldBytes), then with them the segments of level 1 when they and
// the new one are K, and so on up, within maxFoldedBytes.
type foldPlan struct {
	k     int
	trail []segment // the segments seen, newest first
	n     int       // how many of trail fold (0: none)
	level int       // the level of the segment they fold into
	lv    int       // the level of the group being counted
	from  int       // where in trail that group starts
	bytes int       // the items' bytes of trail[:n] and of the group
}

// add takes the next older segment; false when the plan is complete.
func (p *foldPlan) add(seg segment) bool {
	if lv := seg.level(); lv == p.lv && lv >= 0 {
		p.trail = append(p.trail, seg)
		p.bytes += len(seg.items)
		return true
	}
	if !p.end() {
		return false
	}
	return p.add(seg) // the first of the next level's group, or the end
}

// end closes the group being counted: true when it folds (with the groups
// below it) and the next level's group may fold too.
func (p *foldPlan) end() bool {
	if p.lv < 0 {
		return false // closed already
	}
	segs := len(p.trail) - p.from
	if p.lv > 0 {
		segs++ // the one the groups below fold into
	}
	due := segs >= 2 && (segs >= p.k || p.lv == 0 && p.bytes >= foldBytes)
	if !due || p.lv > 0 && p.bytes > maxFoldedBytes {
		p.lv = -2 // no group more
		return false
	}
	p.n, p.level = len(p.trail), p.lv+1
	p.lv, p.from = p.level, len(p.trail)
	return true
}
