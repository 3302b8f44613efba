package ckpt

// A List naming a thread and no namespace walks the thread's history order
// (ids/), a List naming no thread walks the global index (index/). Each
// entry there is written and deleted in the same transaction as the
// checkpoint's record, so a checkpoint whose record is stored and whose
// entry is gone is damage (a page, a tool), and the walk would step over
// it without a trace: a reader would get a silently shorter history. So
// each page is compared with what its range of entries should hold: for
// the history order, the thread's checkpoint records (one seek per
// namespace, then the records the page spans); for the index, each
// thread's history order (one seek per thread, then the entries the page
// spans). The walked keys are the page's own, kept in one buffer.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
)

// maxKeptWalkedKeys bounds the walked-key bytes a pooled reader keeps.
const maxKeptWalkedKeys = 64 << 10

// note records a key a history-order or index walk met (newest first).
func (h *histCheck) note(k []byte) {
	h.keys = append(h.keys, k...)
	h.ends = append(h.ends, len(h.keys))
}

func (h *histCheck) resetKeys() {
	if cap(h.keys) > maxKeptWalkedKeys {
		h.keys = nil
	}
	if cap(h.ends) > maxKeptWalked {
		h.ends = nil
	}
	h.keys, h.ends = h.keys[:0], h.ends[:0]
}

// walkedKey is the i-th key noted.
func (h *histCheck) walkedKey(i int) []byte {
	lo := 0
	if i > 0 {
		lo = h.ends[i-1]
	}
	return h.keys[lo:h.ends[i]]
}

// walkedHas reports whether k was noted: the keys are descending.
func (h *histCheck) walkedHas(k []byte) bool {
	n := len(h.ends)
	i := sort.Search(n, func(i int) bool { return bytes.Compare(h.walkedKey(i), k) <= 0 })
	return i < n && bytes.Equal(h.walkedKey(i), k)
}

// inPage reports where k falls against a page that walked the keys below
// hi (exclusive; nil: no bound) down to lo (inclusive; nil: the start):
// -1 below it, 0 in it, 1 above it.
func inPage(k, hi, lo []byte) int {
	switch {
	case hi != nil && bytes.Compare(k, hi) >= 0:
		return 1
	case lo != nil && bytes.Compare(k, lo) < 0:
		return -1
	}
	return 0
}

// idBound returns a key above every key that starts with an id at most
// the id k starts with, and below every other (nil: no bound): where a
// reverse scan of id-first keys starts to meet that id.
func idBound(dst, k []byte) []byte {
	if k == nil {
		return nil
	}
	dst = append(dst[:0], k[:idLen]...)
	for i := idLen - 1; i >= 0; i-- {
		if dst[i]++; dst[i] != 0 {
			return dst
		}
	}
	return nil // the largest id
}

// checkOrderPage checks a page of the reader's thread's history order
// (the keys noted, between hi and lo as inPage) against the thread's
// checkpoint records: every record whose history key falls in the page
// must have been walked.
func (t *tupleReader) checkOrderPage(hi, lo []byte) error {
	h := &t.hist
	if hi != nil && len(hi) < idLen || lo != nil && len(lo) < idLen {
		return fmt.Errorf("%w: thread %q: history order key shorter than an id", ErrCorrupt, t.thread)
	}
	var after []byte // the namespaces' walk: the next starts at or after it
	for {
		var ns string
		found := false
		if err := t.r.Scan(t.cp, nil, after, false, func(k, _ []byte) error {
			var err error
			ns, _, err = readNS(k)
			found = err == nil
			if err != nil {
				return fmt.Errorf("thread %q: %w", t.thread, err)
			}
			return errStop
		}); err != nil || !found {
			return err
		}
		prefix := nsKey(ns)
		start := prefix
		if hi != nil {
			start = append(start, hi[:idLen]...)
			start = append(start, 0) // the hi id itself: its namespace decides
		} else {
			start = nil
		}
		err := t.r.Scan(t.cp, prefix, start, true, func(k, _ []byte) error {
			if len(k) != len(prefix)+idLen {
				return fmt.Errorf("%w: thread %q namespace %q: checkpoint key has %d id bytes", ErrCorrupt, t.thread, ns, len(k)-len(prefix))
			}
			id := [idLen]byte(k[len(prefix):])
			t.kbuf = append(append(t.kbuf[:0], id[:]...), ns...) // its history key
			switch inPage(t.kbuf, hi, lo) {
			case 1:
				return nil
			case -1:
				return errStop
			}
			if !h.walkedHas(t.kbuf) {
				return errNotInHistory(t.thread, ns, id)
			}
			return nil
		})
		if err != nil {
			return err
		}
		after = seekPastPrefix(prefix)
	}
}

// checkIndexPage checks a page of the global index (the keys noted,
// between hi and lo as inPage) against the history order of each thread
// the page walked: each checkpoint of those threads whose index key falls
// in the page must have been walked. One seek a thread met, so a page
// costs in proportion to its own entries, not to the threads stored
// (checking every thread made a List of 10 over 2,000 threads 12x
// dearer). A thread none of whose entries in the page's range is left in
// the index goes unseen here; Verify reports it. An entry damaged in
// order past the first page's top (a List's Before) is checkIndexAbove's.
func (t *tupleReader) checkIndexPage(hi, lo []byte) error {
	if hi != nil && len(hi) < idLen || lo != nil && len(lo) < idLen {
		return fmt.Errorf("%w: index key shorter than an id", ErrCorrupt)
	}
	h := &t.hist
	h.hi, h.lo = hi, lo
	h.bound = idBound(h.bound, hi)
	h.met = h.met[:0]
	for i := range h.ends {
		_, thread, _, err := parseIndexKey(h.walkedKey(i))
		if err != nil {
			return err
		}
		if slices.Contains(h.met, thread) {
			continue
		}
		h.met = append(h.met, thread)
		if err := h.onThread([]byte(thread)); err != nil { // bound once a reader (tupleReaders)
			return err
		}
	}
	return nil
}

// checkIndexAbove is the check of the first page of a List of every
// thread with Before (start): the index entry at or above start names a
// stored checkpoint. An entry damaged in order (a flipped byte of its id,
// still between its neighbours) can move from just below Before to at or
// above it: the walk then never meets it, and checkIndexPage looks only
// at the threads the page met, so a List{Before, Limit} left that
// checkpoint out with no error when the page met no other entry of its
// thread (TestH182IndexKeyRaisedPastBefore). Moved in order, it lies
// below every key that was above it, so it is the first entry at or
// above Before, and an index entry is stored only with its checkpoint:
// one seek and one lookup a List. The pages after the first need none:
// each starts below the key its page before walked, which such an entry
// cannot pass in order.
func checkIndexAbove(r reader, start []byte) error {
	var err error
	serr := r.Scan(indexPath, nil, start, false, func(k, _ []byte) error {
		err = indexEntryStored(r, k)
		return errStop
	})
	return cmp.Or(serr, err)
}

// indexThread is checkIndexPage's callback, one thread each: its
// history entries the page spans, newest first.
func (t *tupleReader) indexThread(name []byte) error {
	h := &t.hist
	h.path = [3][]byte{bucketThreads, name, bucketOrder}
	h.name = name
	return t.r.Scan(h.path[:], nil, h.bound, true, h.onOrder)
}

// indexOrder is indexThread's callback: one history entry (id | ns)
// of thread h.name, which the page must hold if its index key is in it.
func (t *tupleReader) indexOrder(k, _ []byte) error {
	h := &t.hist
	if len(k) < idLen {
		return fmt.Errorf("%w: thread %q: history order key has %d bytes", ErrCorrupt, h.name, len(k))
	}
	t.kbuf = append(t.kbuf[:0], k[:idLen]...)
	t.kbuf = binary.BigEndian.AppendUint16(t.kbuf, uint16(len(h.name)))
	t.kbuf = append(append(t.kbuf, h.name...), k[idLen:]...)
	switch inPage(t.kbuf, h.hi, h.lo) {
	case 1:
		return nil
	case -1:
		return errStop
	}
	if !h.walkedHas(t.kbuf) {
		return errNotInIndex(string(h.name), string(k[idLen:]), [idLen]byte(k))
	}
	return nil
}

func errNotInIndex(thread, ns string, id [idLen]byte) error {
	return fmt.Errorf("%w: thread %q namespace %q checkpoint %s: in the thread's history, missing from the global index", ErrCorrupt, thread, ns, idString(id))
}

// checkThreadsIndexed is the check of the last page of a List of every
// thread that walked the whole index (no Before bound, the walk at the
// index's end): every thread stored has its newest checkpoint in the
// index. A thread none of whose entries in a page's range is left in the
// index goes unseen by that page's check (checkIndexPage looks only at
// the threads a page met; a page cannot look at every thread: the index
// is the one record of which threads hold ids in its range). A walk of
// the whole index did meet every thread with an entry, so one left out
// of it whole shows here: one seek in its history order and one lookup
// in the index a thread, against a walk that loaded at least a tuple a
// thread. A thread whose newest entry is in the index while the walk did
// not meet it was written after the walk passed its place; one that keeps
// only some of its entries is seen by the pages that meet it.
func (t *tupleReader) checkThreadsIndexed() error {
	h := &t.hist
	var err error
	serr := t.r.Buckets(threadsRoot, nil, func(name []byte) error {
		// In the reader's own room (the path, the callback and the key
		// are the reader's): the check runs over every thread stored, and
		// allocating for each made a filtered List over 20,000 threads
		// 17% dearer in allocations (list_gaps_alloc_test.go).
		h.path = [3][]byte{bucketThreads, name, bucketOrder}
		t.found = nil
		_ = t.r.Scan(h.path[:], nil, nil, true, t.onLatest)
		newest := t.found
		t.found, t.foundVal = nil, nil
		if len(newest) < idLen {
			return nil // none; or short, which Verify reports
		}
		// Its index key (indexKey): id | len16(thread) | thread | ns.
		t.kbuf = append(t.kbuf[:0], newest[:idLen]...)
		t.kbuf = binary.BigEndian.AppendUint16(t.kbuf, uint16(len(name)))
		t.kbuf = append(append(t.kbuf, name...), newest[idLen:]...)
		if !t.r.Has(indexPath, t.kbuf) {
			err = errNotInIndex(string(name), string(newest[idLen:]), [idLen]byte(newest))
			return errStop
		}
		return nil
	})
	if serr != nil {
		return serr
	}
	return err
}
