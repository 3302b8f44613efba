package ckpt

// A checkpoint whose record is gone while the thread's history order (ids/)
// still holds it is damage, not a deletion: retention deletes the record,
// its metadata, its history entry and its index entry in one transaction.
// The reads that walk the history order meet such a checkpoint and fail;
// the one that walks the checkpoint bucket itself (a List naming a thread
// and a namespace, selector.inNS) would skip it, and a reader would get a
// silently shorter history. So each of its pages is compared with the
// history order it spans.

import (
	"bytes"
	"fmt"
)

// histCheck is a tupleReader's state for checkInHistory, its callback
// bound once (a method value is an allocation each time it is made).
type histCheck struct {
	walked    [][idLen]byte // the checkpoints a namespace walk met, newest first
	walkedBuf [listPage][idLen]byte
	path      [3][]byte
	thread    string
	ns        string
	lo        []byte
	j         int // walked[:j] met in the history
	on        func(k, v []byte) error
	// keys are the keys a history-order or index walk met, newest first,
	// each ending at its ends entry (list_gaps.go).
	keys []byte
	ends []int
	// checkIndexPage's state: the page's bounds, where each thread's
	// scan starts, the thread it scans, its callbacks (bound once a
	// reader: a method value is an allocation each time it is made).
	hi, bound, name []byte
	onThread        func(name []byte) error
	met             []string // the threads a global index page walked
	onOrder         func(k, v []byte) error
	// checkNamespaces' state (list_namespaces.go): the length of the
	// thread's directory key, the first namespace key found hidden, and
	// its callback.
	dirLen int
	hidden []byte
	onDir  func(k, v []byte) error
}

// maxKeptWalked bounds the walked ids a pooled reader keeps room for
// (a filtered List page may walk a whole namespace).
const maxKeptWalked = 1024

func (h *histCheck) reset() {
	if h.walked == nil || cap(h.walked) > maxKeptWalked {
		h.walked = h.walkedBuf[:0]
	}
	h.walked = h.walked[:0]
	h.path = [3][]byte{}
	h.thread, h.ns, h.lo, h.j = "", "", nil, 0
	h.resetKeys()
	h.hi, h.name = nil, nil
	h.hidden = nil
}

// missing is the error for checkpoint id of namespace ns that the
// reader's thread has no record of: ErrNotFound, or ErrCorrupt when the
// thread's history holds it or its bucket is hidden (thread_dir.go). Only
// a miss pays for the second look.
func (t *tupleReader) missing(ns string, id [idLen]byte) error {
	if err := checkpointHidden(t.r, t.thread, ns, id, !t.unlisted); err != nil {
		return err
	}
	return fmt.Errorf("%w: checkpoint %s in thread %q namespace %q", ErrNotFound, idString(id), t.thread, ns)
}

// latestMetadata checks the newest checkpoint load found in the
// checkpoint bucket (t.key; empty: none, ns's prefix its first prefix
// bytes) against the newest key of the metadata bucket under the same
// prefix, which every checkpoint has too, and returns that record's body
// when they agree. One seek, in place of read's Get of the metadata: a
// newest checkpoint whose record is gone would otherwise pass the one
// before it off as the head. A metadata key older than the checkpoint's
// (its metadata gone) returns nil: read then reports the missing record.
func (t *tupleReader) latestMetadata(ns string, prefix int) ([]byte, error) {
	t.kbuf = appendLen16(t.kbuf[:0], ns)
	for range idLen + 1 {
		t.kbuf = append(t.kbuf, 0xff)
	}
	t.found, t.foundVal = nil, nil
	_ = t.scan(bMD, t.kbuf[:prefix], t.kbuf, true, t.onLatest)
	switch c := bytes.Compare(t.found, t.key); {
	case t.found == nil || c < 0:
		return nil, nil
	case c > 0:
		if len(t.found) != prefix+idLen {
			return nil, fmt.Errorf("%w: thread %q namespace %q: metadata key has %d id bytes", ErrCorrupt, t.thread, ns, len(t.found)-prefix)
		}
		return nil, errRecordMissing(t.thread, ns, [idLen]byte(t.found[prefix:]))
	}
	body, err := recordBody("metadata", t.seed, t.key, t.foundVal, metadataRecordV1, metadataRecordV2)
	if err != nil {
		return nil, fmt.Errorf("thread %q checkpoint %s: %w", t.thread, idString([idLen]byte(t.key[len(t.key)-idLen:])), err)
	}
	return body, nil
}

// checkInHistory compares the checkpoints a namespace walk of the
// reader's thread met (hist.walked, newest first) with the thread's
// history order between ids hi (exclusive; nil: no bound) and lo
// (inclusive; nil: the history's start). Each checkpoint of ns there must
// be in both. One more scan a page, of the history entries the page spans.
func (t *tupleReader) checkInHistory(ns string, hi, lo []byte) error {
	h := &t.hist
	h.path = [3][]byte{bucketThreads, t.name, bucketOrder}
	h.thread, h.ns, h.lo, h.j = t.thread, ns, lo, 0
	err := t.r.Scan(h.path[:], nil, hi, true, h.on)
	if err == nil && h.j < len(h.walked) {
		err = errNotInHistory(h.thread, ns, h.walked[h.j])
	}
	return err
}

// order is checkInHistory's callback, one history entry (id | ns) each.
func (h *histCheck) order(k, _ []byte) error {
	if len(k) < idLen {
		return fmt.Errorf("%w: thread %q: history order key has %d bytes", ErrCorrupt, h.thread, len(k))
	}
	id := k[:idLen]
	if h.lo != nil && bytes.Compare(id, h.lo) < 0 {
		return errStop
	}
	if string(k[idLen:]) != h.ns {
		return nil
	}
	if h.j < len(h.walked) {
		c := bytes.Compare(id, h.walked[h.j][:])
		if c == 0 {
			h.j++
			return nil
		}
		if c < 0 { // the history went past walked[j]
			return errNotInHistory(h.thread, h.ns, h.walked[h.j])
		}
	}
	return errRecordMissing(h.thread, h.ns, [idLen]byte(id))
}

func errRecordMissing(thread, ns string, id [idLen]byte) error {
	return fmt.Errorf("%w: thread %q namespace %q checkpoint %s: in the thread's history, its checkpoint record is missing", ErrCorrupt, thread, ns, idString(id))
}

func errNotInHistory(thread, ns string, id [idLen]byte) error {
	return fmt.Errorf("%w: thread %q namespace %q checkpoint %s: missing from the thread's history order", ErrCorrupt, thread, ns, idString(id))
}
