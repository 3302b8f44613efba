package ckpt

// The checks of a walk over every record of a thread: Export (the dump
// would carry a loss on), Threads and Thread (their counts), Stats. A
// record's sum checks the records a walk finds, not one damage hid (a key
// or branch page deleted or moved: no record is left that fails), and
// those walks took what they found for what was stored: a thread with a
// pending write, a checkpoint's history-order entry or its metadata,
// checkpoint or value record, or a list segment gone was summarised short
// (11 of 12 checkpoints, 23 of 24 pending writes) or dumped without it,
// with no error, while every read of it fails (ErrCorrupt). threadCensus
// holds each walk to the reads' rules, from what it already reads:
//
//   - every checkpoint has its metadata record and its history-order entry
//     (as many of each as checkpoint records: each one is written and
//     deleted with the other two);
//   - every value a checkpoint names is stored (the reads' "no value
//     stored", errNoValue);
//   - a checkpoint's pending writes are what its tally counts (the reads'
//     check, write_tally.go; files of format 7 on): checkpoint by
//     checkpoint in Export, which does not walk the history order, and
//     over the whole thread in Threads, Thread and Stats, which do (count
//     and XOR of the writes' hashes, with no entry a checkpoint);
//   - every list lineage holds the items the versions stored in it need,
//     segment after segment from item 0 (the reads' rule,
//     lineage.checkNext and checkHolds).
//
// The values and the lineages are checked by Export and Stats only
// (threadCensus.full). Cost there: each checkpoint record is read for
// the versions it names (fastCheckpointVersions, no map built) and a
// lookup made a channel, and an entry held a list lineage (a list
// appended to stays in one; one rewritten every step makes one a
// version); Export also holds an entry a checkpoint with pending writes,
// as it did. Stats and Export of 30 threads of 100 checkpoints made 3-5%
// more allocations, their time not told apart from this loaded machine's
// noise; Threads made 7 more a thread (23,111 against 22,901 for the 30).

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// threadCensus checks one walk over a thread's records (see above): each
// record the walk reads, its sum checked, goes to add; done runs the
// checks that need the whole walk.
type threadCensus struct {
	r       reader
	thread  string
	ts      threadSeed
	tallied bool // the file keeps write tallies (format 7 on)
	// full: look up the values each checkpoint names and check each list
	// lineage (Export, Stats). Threads and Thread, which the history
	// browser calls for every page, check the counts they report (those
	// cost next to nothing) and not these: decoding every checkpoint
	// record, a lookup a channel and an entry a lineage made Threads
	// three to eight times slower. A value or segment missing leaves their
	// byte count short; every read of it, Stats, Export and Verify
	// report it.
	full bool

	walksOrder bool // the walk gives ids/ (Export's does not)
	// walksMetadata: the walk gives md/ (Threads's and Stats's, which
	// give every sub-bucket; Export gets each checkpoint's). Set by the
	// walk, not by the first metadata record it meets: a thread whose
	// md/ is gone whole (a flipped flag byte of its entry makes it a
	// plain value) has none to meet, and was summarised with no error.
	walksMetadata bool

	checkpoints, metadata, order int
	// found, tallies: the pending writes found and what the tallies of the
	// history order count, over the whole thread (a tally's sum is an XOR,
	// so the thread's are the XOR of its checkpoints'): when the walk reads
	// ids/ as well as wr/, compared with no entry a checkpoint. Export,
	// which does not, checks each checkpoint's (tallyCounter.mismatches).
	found, tallies writeTally
	writes         tallyCounter // Export's, by checkpoint
	lists          lineageCheck

	key []byte // a blob key, reused
}

// newThreadCensus returns the census of a walk over thread (tallied,
// full: see threadCensus); walksOrder: the walk gives the history order
// (ids/) too, and with it every sub-bucket, md/ included.
func newThreadCensus(r reader, thread string, tallied, full, walksOrder bool) *threadCensus {
	ts := seedOf(thread)
	return &threadCensus{r: r, thread: thread, ts: ts, tallied: tallied, full: full, walksOrder: walksOrder, walksMetadata: walksOrder, writes: tallyCounter{},
		lists: lineageCheck{thread: thread, ts: ts, needs: map[lineageKey]int{}}}
}

// add takes record v keyed k of the thread's sub-bucket sub, its sum
// checked. The walk gives bl/ before ls/ (a lineage's needs come from the
// values), each bucket in key order, and ids/ whole or not at all (then
// done reads it, and checks each checkpoint's tally; wr/ is walked before
// ids/, if at all).
func (c *threadCensus) add(sub, k, v []byte) error {
	switch string(sub) {
	case string(bucketCheckpoints):
		c.checkpoints++
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			return fmt.Errorf("thread %q: %w", c.thread, err)
		}
		if !c.full {
			return nil
		}
		body, err := recordBody("checkpoint", c.ts, k, v, checkpointRecordV1, checkpointRecordV2)
		if err != nil {
			return fmt.Errorf("thread %q checkpoint %s: %w", c.thread, idString(id), err)
		}
		bl := threadPath(c.thread, bucketBlobs)
		missing := false
		if !fastCheckpointVersions(body, func(ch, ver []byte) {
			c.key = binary.BigEndian.AppendUint16(c.key[:0], uint16(len(ns)))
			c.key = binary.BigEndian.AppendUint16(append(c.key, ns...), uint16(len(ch)))
			c.key = append(append(c.key, ch...), ver...) // blobKey
			missing = missing || !c.r.Has(bl, c.key)
		}) {
			missing = true // decoded below, or reported
		}
		if !missing {
			return nil
		}
		var rec checkpointRecord
		if err := decodeCheckpointBody(&rec, body, string(body)); err != nil {
			return fmt.Errorf("thread %q checkpoint %s: %w", c.thread, idString(id), err)
		}
		// The first channel in order whose value is not stored.
		for _, ch := range slices.Sorted(maps.Keys(rec.Versions)) {
			if ver := rec.Versions[ch]; !c.r.Has(bl, blobKey(ns, ch, ver)) {
				return errNoValue(c.thread, id, ch, ver)
			}
		}
	case string(bucketMetadata):
		c.metadata++
	case string(bucketWrites):
		if c.tallied {
			c.found.add(k, v)
			if !c.walksOrder {
				c.writes.add(k, v)
			}
		}
	case string(bucketOrder):
		c.order++
		if c.tallied && len(v) > 0 {
			t, err := decodeTally(c.ts, k, v)
			if err != nil {
				id, _, _ := parseOrderKey(k)
				return fmt.Errorf("thread %q checkpoint %s: pending writes: %w", c.thread, idString(id), err)
			}
			c.tallies.n += t.n
			c.tallies.sum ^= t.sum
		}
	case string(bucketBlobs):
		if c.full {
			return c.lists.value(k, v)
		}
	case string(bucketSegments):
		if c.full {
			return c.lists.segment(k, v)
		}
	}
	return nil
}

// done runs the checks that need the whole walk: the lineages' ends, the
// tallies and the count of the history order.
func (c *threadCensus) done() error {
	if err := c.lists.done(); err != nil {
		return err
	}
	if c.walksMetadata && c.metadata != c.checkpoints {
		return fmt.Errorf("%w: thread %q: %d checkpoint records, %d metadata records (a damaged key or page hides some)", ErrCorrupt, c.thread, c.checkpoints, c.metadata)
	}
	order := c.order
	switch {
	case c.walksOrder:
		if c.tallied && c.found != c.tallies {
			return fmt.Errorf("%w: thread %q: %d pending writes found, its checkpoints' tallies count %d (a damaged key or page hides or moved some)", ErrCorrupt, c.thread, c.found.n, c.tallies.n)
		}
	case c.tallied:
		var bad error
		order = c.writes.mismatches(c.r, c.thread, func(_ string, id [idLen]byte, err error) bool {
			bad = fmt.Errorf("thread %q checkpoint %s: %w", c.thread, idString(id), err)
			return false
		})
		if bad != nil {
			return bad
		}
	default:
		if err := c.r.Scan(threadPath(c.thread, bucketOrder), nil, nil, false, func(_, _ []byte) error {
			order++
			return nil
		}); err != nil {
			return fmt.Errorf("thread %q: %w", c.thread, err)
		}
	}
	if order != c.checkpoints {
		return fmt.Errorf("%w: thread %q: %d checkpoint records, %d entries in its history order (a damaged key or page hides some)", ErrCorrupt, c.thread, c.checkpoints, order)
	}
	return nil
}

// lineageCheck checks the list lineages of a thread against the versions
// stored in them, from a walk of its bl/ (value) then its ls/ (segment),
// each in key order: as a read of each version would (lineage.checkNext,
// checkHolds), each lineage once, up to the most items a version needs.
type lineageCheck struct {
	thread string
	ts     threadSeed
	// needs: the lineages the values refer to, and the most items a
	// version needs of each (removed as the segment walk checks them).
	needs map[lineageKey]int
	// ns, channel: the names of the last value, as strings.
	ns, channel string
	// The lineage the segment walk is in, what its versions need (zero:
	// none refers to it, a lineage retention left for the sweep, which may
	// have taken some of it already) and the items its segments so far
	// hold.
	cur     lineageKey
	need    int
	covered int
	started bool
}

// value takes blob record v keyed k, its sum checked.
func (l *lineageCheck) value(k, v []byte) error {
	if len(v) < 2 || v[1] != blobListRef { // the kind, in every record version
		return nil
	}
	ns, ch, ok := blobKeyNames(k)
	if !ok {
		_, _, _, err := parseBlobKey(k)
		return fmt.Errorf("thread %q: %w", l.thread, err)
	}
	// Values come in key order, a channel's together: its names are made
	// strings once, not once a version.
	if string(ns) != l.ns || string(ch) != l.channel {
		l.ns, l.channel = string(ns), string(ch)
	}
	ref, err := listRefOf(l.ts, k, v)
	if err != nil {
		_, _, ver, _ := parseBlobKey(k)
		return fmt.Errorf("thread %q namespace %q channel %q version %q: %w", l.thread, l.ns, l.channel, ver, err)
	}
	lk := lineageKey{l.ns, l.channel, ref.lineage}
	if ref.count > l.needs[lk] {
		l.needs[lk] = ref.count
	}
	return nil
}

// segment takes segment record v keyed k, its sum checked.
func (l *lineageCheck) segment(k, v []byte) error {
	ns, ch, id, _, err := parseSegmentKey(k)
	if err != nil {
		return fmt.Errorf("thread %q: %w", l.thread, err)
	}
	if lk := (lineageKey{ns, ch, id}); lk != l.cur || !l.started {
		if err := l.end(); err != nil {
			return err
		}
		l.cur, l.need, l.covered, l.started = lk, l.needs[lk], 0, true
	}
	if l.covered >= l.need {
		return nil
	}
	seg, err := decodeSegment(l.ts, k, v)
	if err == nil {
		err = lineageOf(l.thread, l.cur).checkNext(seg, l.covered)
	}
	if err != nil {
		return l.wrap(l.cur, err)
	}
	l.covered += seg.count
	return nil
}

// end closes the lineage the segment walk was in.
func (l *lineageCheck) end() error {
	if l.need == 0 {
		return nil
	}
	delete(l.needs, l.cur)
	need := l.need
	l.need = 0
	return l.wrap(l.cur, lineageOf(l.thread, l.cur).checkHolds(l.covered, need))
}

// done closes the segment walk: every lineage a version needs was met.
func (l *lineageCheck) done() error {
	if err := l.end(); err != nil {
		return err
	}
	for _, lk := range slices.SortedFunc(maps.Keys(l.needs), lineageKey.compare) {
		if n := l.needs[lk]; n > 0 {
			// Not one segment of it found.
			return l.wrap(lk, lineageOf(l.thread, lk).checkHolds(0, n))
		}
	}
	return nil
}

// wrap names the thread, namespace and channel of lineage lk in err, if
// not nil.
func (l *lineageCheck) wrap(lk lineageKey, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("thread %q namespace %q channel %q: %w", l.thread, lk.ns, lk.channel, err)
}

// lineageKey names a list lineage of a thread (delta.go).
type lineageKey struct {
	ns, channel string
	id          uint64
}

func (a lineageKey) compare(b lineageKey) int {
	return cmp.Or(cmp.Compare(a.ns, b.ns), cmp.Compare(a.channel, b.channel), cmp.Compare(a.id, b.id))
}

// lineageOf is the lineage lk of thread, for its checks (checkNext,
// checkHolds): it reads nothing.
func lineageOf(thread string, lk lineageKey) lineage {
	return lineage{thread: thread, ns: lk.ns, channel: lk.channel, id: lk.id}
}

// errNoValue is the error for a checkpoint naming a channel version
// whose value is not stored. Put stores a record under every version a
// checkpoint names ("no value" too: blobEmpty), so a missing one is
// damage: a key or page that hides it.
func errNoValue(thread string, id [idLen]byte, channel, version string) error {
	return fmt.Errorf("%w: thread %q checkpoint %s channel %q version %q: no value stored", ErrCorrupt, thread, idString(id), channel, version)
}

// knownThreadBuckets (its errors do not name the thread: the caller's
// do) checks that every bucket in thread's bucket is one of
// threadSubBuckets: any other name is a damaged one (a flipped byte in
// "md" hides the thread's metadata from every read that opens it by name,
// and a count of what the thread holds comes out short), and that none of
// those names holds a plain value: a flipped bit of a sub-bucket's flags
// in the thread bucket's page makes it one, and every record in it is gone
// from the walks with none left to fail its sum (a summary, which looks
// up no value or lineage, counted a thread whose bl/ or ls/ was gone
// short, with no error).
func knownThreadBuckets(r reader, thread string) error {
	for _, sub := range threadSubBuckets {
		if r.Get(threadBucket(thread), sub) != nil {
			return fmt.Errorf("%w: the thread's %s/ bucket is a plain value (a damaged flag in its page)", ErrCorrupt, sub)
		}
	}
	return r.Buckets(threadBucket(thread), nil, func(name []byte) error {
		for _, sub := range threadSubBuckets {
			if bytes.Equal(name, sub) {
				return nil
			}
		}
		return fmt.Errorf("%w: the thread holds a bucket named %q, which the store never writes (a damaged bucket name)", ErrCorrupt, name)
	})
}
