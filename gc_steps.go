package ckpt

// Retention's write side: a threadJob carried out in budgeted steps (drop
// checkpoints, sweep the blobs no kept checkpoint names, drop an expired
// thread in chunks). gc.go says how the steps fit together.

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"time"
)

// step does as much of the job as budget keys allow, from st. It returns
// when the job is done or a phase could not finish within the budget.
func (j *threadJob) step(w writer, st jobState, budget int) (jobState, GCStats, int, error) {
	var stats GCStats
	start := budget
	ret := func(err error) (jobState, GCStats, int, error) { return st, stats, start - budget, err }
	for budget > 0 && st.phase != phaseDone {
		switch st.phase {
		case phaseDrop:
			for st.next < len(j.drop) {
				ref := j.drop[st.next]
				if j.keepHeads {
					head, err := headID(w, j.thread, ref.ns)
					if err != nil {
						return ret(err)
					}
					if bytes.Equal(head, ref.id[:]) {
						st.next++
						continue
					}
				}
				// A transaction that already changed keys leaves a
				// checkpoint whose writes do not all fit to the next one.
				whole := budget < start || start < j.txKeys
				used, done, err := dropCheckpoint(w, j.thread, ref, budget, whole, &stats)
				if err != nil {
					return ret(err)
				}
				budget -= used
				if !done {
					return ret(nil) // the budget ran out; go on next time
				}
				if used > 0 {
					j.dropped++
				} else {
					j.passed = append(j.passed, ref) // not found
				}
				st.next++
			}
			st.phase = phaseSweep
		case phaseSweep:
			// The checkpoints ids/ names per namespace, for the sweeps'
			// check (liveBlobs): one walk of ids/ per transaction, not one
			// per namespace swept (threads of 50 namespaces walked it 50
			// times: GC's CPU +31-47%, bench/RESULTS.md, twenty-ninth
			// session, helper-187). Counted in this transaction, after
			// its drops: a count carried over from an earlier one would
			// miss what writers (DeleteThread, another retention run)
			// changed in between, and refuse a sound store.
			var named map[string]int
			if st.nsIdx < len(st.nss) {
				var err error
				if named, err = countOrder(w, j.thread); err != nil {
					return ret(err)
				}
			}
			for st.nsIdx < len(st.nss) {
				used, done, err := sweepBlobs(w, j.thread, st.nss[st.nsIdx], budget, named, &stats)
				if err != nil {
					return ret(err)
				}
				budget -= used
				if !done {
					return ret(nil)
				}
				st.nsIdx++
			}
			if len(st.nss) > 0 {
				// Blobs that referred to list lineages may be gone:
				// delete the segments no blob refers to any more.
				n, b, done, err := sweepLineages(w, j.thread, budget)
				if err != nil {
					return ret(err)
				}
				budget -= n
				stats.Segments += n
				stats.BytesFreed += b
				if !done {
					return ret(nil) // the rest go next time (the sweep is redone: nss are swept)
				}
			}
			st.phase = phaseDone
			if len(st.nss) > 0 && w.Exists(threadBucket(j.thread)) && !hasCheckpoints(w, j.thread) {
				// Every checkpoint went: remove the thread's leftovers too,
				// unless a writer starts it again meanwhile.
				st.phase, st.requireEmpty = phaseWhole, true
			}
		case phaseWhole:
			if st.requireEmpty && hasCheckpoints(w, j.thread) || j.stillWhole != nil && !j.stillWhole(w) {
				st.phase = phaseDone
				continue
			}
			used, done, err := dropThreadChunk(w, j.thread, budget, budget < start || start < j.txKeys, &stats)
			if err != nil {
				return ret(err)
			}
			budget -= used
			if !done {
				return ret(nil)
			}
			st.phase = phaseDone
		}
	}
	return ret(nil)
}

// dropCheckpoint deletes one checkpoint in one transaction: its pending
// writes, its header, metadata, order and index entries. In the same
// transaction it marks its namespace for a blob sweep (sweepKey), unless
// already marked.
//
// A checkpoint is never split across transactions: between two of them
// readers would see it with part of its pending writes (a resume from it
// would miss them). With whole, one whose writes and keys do not all fit
// in budget is left alone (used 0, done false) for a fresh transaction.
// Without whole (the transaction changed nothing yet) it goes in this one
// even past budget: a checkpoint with more pending writes than a
// retention transaction holds (gcTxKeys) costs one larger transaction,
// which is rare and bounded by what the checkpoint holds.
func dropCheckpoint(w writer, thread string, ref cpRef, budget int, whole bool, stats *GCStats) (used int, done bool, err error) {
	key := checkpointKey(ref.ns, ref.id)
	cpPath := threadPath(thread, bucketCheckpoints)
	rec := w.Get(cpPath, key)
	if rec == nil {
		return 0, true, nil // already gone
	}
	wrPath := threadPath(thread, bucketWrites)
	mark := sweepKey(thread, ref.ns)
	need := 4
	marks := w.Get(sweepPath, mark) == nil
	if marks {
		need++
	}
	// The namespace's last checkpoint takes its directory entry along
	// (thread_dir.go): a namespace listed must hold a checkpoint.
	last, err := lastOfNamespace(w, cpPath, ref.ns)
	if err != nil {
		return 0, false, err
	}
	if last {
		need++
	}
	if whole {
		room := budget - need
		n := 0
		if err := w.Scan(wrPath, key, nil, false, func(_, _ []byte) error {
			n++
			return keepScanning(n <= room)
		}); err != nil {
			return 0, false, err
		}
		if n > room {
			return 0, false, nil
		}
	}
	limit := budget
	if !whole {
		limit = math.MaxInt // the whole checkpoint, past budget if need be
	}
	n, _, err := deleteRange(w, wrPath, key, limit, nil, &stats.BytesFreed)
	used += n
	stats.Writes += n
	if err != nil {
		return used, false, err
	}
	if whole && budget-used < need {
		return used, false, nil // (cannot happen: whole counted the writes first)
	}
	if marks {
		// Not empty: bbolt reads an empty value back as nil (absent) in the
		// transaction that wrote it.
		if err := w.Put(sweepPath, mark, []byte{1}); err != nil {
			return used, false, err
		}
		used++
	}
	md := w.Get(threadPath(thread, bucketMetadata), key)
	ok, ik := orderKey(ref.id, ref.ns), indexKey(ref.id, thread, ref.ns)
	stats.BytesFreed += int64(2*len(key) + len(rec) + len(md) + len(ok) + len(ik))
	dels := []struct {
		p bucketPath
		k []byte
	}{
		{cpPath, key},
		{threadPath(thread, bucketMetadata), key},
		{threadPath(thread, bucketOrder), ok},
		{bucketPath{bucketIndex}, ik},
	}
	for _, d := range dels {
		if err := w.Del(d.p, d.k); err != nil {
			return used, false, err
		}
	}
	used += len(dels)
	if last {
		if err := dropNamespace(w, thread, ref.ns); err != nil {
			return used, false, err
		}
		used++
	}
	stats.Checkpoints++
	return used, true, nil
}

// lastOfNamespace reports whether the bucket at cpPath (a thread's cp/)
// holds one checkpoint of ns, no more (the one about to be deleted). The
// scan's error is returned: a walk passes over a key out of order (a
// damaged page), and counting without it read a namespace with two keys
// as holding one, whose directory entry the drop then removed.
func lastOfNamespace(r reader, cpPath bucketPath, ns string) (bool, error) {
	n := 0
	err := r.Scan(cpPath, nsKey(ns), nil, false, func(_, _ []byte) error {
		n++
		return keepScanning(n < 2)
	})
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// blobRefs returns the keys of the blobs checkpoint rec of namespace ns
// needs to load. It is the one place that knows how checkpoints reference
// blobs: the sweep keeps exactly the blobs some remaining checkpoint's
// blobRefs names, so a new kind of reference (a blob that builds on
// another) must be added here.
func blobRefs(rec *checkpointRecord, ns string) [][]byte {
	refs := make([][]byte, 0, len(rec.Versions))
	for ch, ver := range rec.Versions {
		refs = append(refs, blobKey(ns, ch, ver))
	}
	return refs
}

// liveBlobs returns the blob keys the checkpoints of (thread, ns) reference,
// skipping those for which skip is true. It reads them from the records
// in cp/ under ns's prefix and checks that it read one for every
// checkpoint of ns the thread's history order names (named, countOrder's
// counts in the same transaction): a damaged cp/ key (moved out of the
// prefix, or hiding the keys after it) left a kept checkpoint unread, and
// the sweep deleted the values it names, with no error.
func liveBlobs(r reader, thread, ns string, skip func(id [idLen]byte) bool, named map[string]int) (map[string]struct{}, error) {
	live := map[string]struct{}{}
	prefix := nsKey(ns)
	ts := seedOf(thread)
	read := 0
	err := r.Scan(threadPath(thread, bucketCheckpoints), prefix, nil, false, func(k, v []byte) error {
		// The key's length is checked before its id is taken: a damaged
		// key size is ErrCorrupt, not a panic.
		_, id, err := parseCheckpointKey(k)
		if err != nil {
			return fmt.Errorf("thread %q namespace %q: %w", thread, ns, err)
		}
		read++
		if skip != nil && skip(id) {
			return nil
		}
		rec, err := decodeCheckpointRecord(ts, k, v)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", idString(id), err)
		}
		for _, ref := range blobRefs(rec, ns) {
			live[string(ref)] = struct{}{}
		}
		return nil
	})
	if err != nil {
		return live, err
	}
	if n := named[ns]; read < n {
		return live, fmt.Errorf("%w: thread %q namespace %q: its history order names %d checkpoints, cp/ holds %d under the namespace (a damaged key hides the rest): no value of it swept", ErrCorrupt, thread, ns, n, read)
	}
	return live, nil
}

// countOrder counts, per namespace, the checkpoints of thread its history
// order names.
func countOrder(r reader, thread string) (map[string]int, error) {
	counts := map[string]*int{} // a lookup by string(k) allocates nothing: only a new namespace's key does
	err := r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		if len(k) < idLen {
			return fmt.Errorf("%w: thread %q: short order key", ErrCorrupt, thread)
		}
		if c := counts[string(k[idLen:])]; c != nil {
			*c++
		} else {
			one := 1
			counts[string(k[idLen:])] = &one
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("thread %q: ids/: %w", thread, err)
	}
	n := make(map[string]int, len(counts))
	for ns, c := range counts {
		n[ns] = *c
	}
	return n, nil
}

// sweepBlobs deletes the blobs of (thread, ns) that no checkpoint of that
// namespace references, at most budget keys; done says all are gone (and
// the namespace's sweep mark with them). The references are read in the
// same transaction as the deletion, so a checkpoint written a moment ago
// that reuses an old version keeps it.
func sweepBlobs(w writer, thread, ns string, budget int, named map[string]int, stats *GCStats) (used int, done bool, err error) {
	live, err := liveBlobs(w, thread, ns, nil, named)
	if err != nil {
		return 0, false, err
	}
	blPath := threadPath(thread, bucketBlobs)
	ts := seedOf(thread)
	var damaged error
	isLive := func(k []byte) bool {
		if _, ok := live[string(k)]; ok {
			return true
		}
		// Referred to by no checkpoint because its key is damaged: a
		// value, not garbage. Kept, and the sweep fails.
		if err := recordIntact(bucketBlobs, ts, k, w.Get(blPath, k)); err != nil {
			damaged = cmp.Or(damaged, fmt.Errorf("%w (a value no checkpoint refers to, kept: its key is damaged)", err))
			return true
		}
		return false
	}
	n, done, err := deleteRange(w, blPath, nsKey(ns), budget, isLive, &stats.BytesFreed)
	used += n
	stats.Blobs += n
	if err = cmp.Or(err, damaged); err != nil {
		return used, false, err
	}
	if mark := sweepKey(thread, ns); done && w.Get(sweepPath, mark) != nil {
		if used == budget {
			return used, false, nil // the mark goes next time
		}
		if err := w.Del(sweepPath, mark); err != nil {
			return used, false, err
		}
		used++
	}
	return used, done, nil
}

// hasCheckpoints reports whether the thread holds any checkpoint.
func hasCheckpoints(r reader, thread string) bool {
	found := false
	// Its error is harmless: a scan that meets a key out of order before
	// its first yield (it checks each key's successor first) reads the
	// thread as empty, and a whole-thread removal then walks ids/ again,
	// returning its error, and checks cp/ when empty (leftoverOnly).
	_ = r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(_, _ []byte) error { found = true; return errStop })
	return found
}

// newestBefore reports whether the thread's newest checkpoint (in any
// namespace) is older than cutoff; a thread without checkpoints is.
func newestBefore(r reader, thread string, cutoff time.Time) bool {
	newest := true
	// Its error is harmless: a walk back from the bucket's last key yields
	// it before it can meet one out of order.
	_ = r.Scan(threadPath(thread, bucketOrder), nil, nil, true, func(k, _ []byte) error {
		newest = len(k) >= idLen && idTime([idLen]byte(k[:idLen])).Before(cutoff)
		return errStop
	})
	return newest
}

// leftoverOnly (its errors do not name the thread: retain's do) checks
// that a thread whose history order lists no
// checkpoint holds no checkpoint record either, as a thread an
// interrupted removal left behind (dropCheckpoint removes a record with
// its order entry). A damaged history order (its bucket's name, a key of
// the thread's bucket) looks empty to the order's scan while the records
// stand: removing the thread then would delete its whole history, a
// retention that was asked to keep the newest checkpoints.
func leftoverOnly(r reader, thread string) error {
	if err := knownThreadBuckets(r, thread); err != nil {
		return err
	}
	found := false
	if err := r.Scan(threadPath(thread, bucketCheckpoints), nil, nil, false, func(_, _ []byte) error {
		found = true
		return errStop
	}); err != nil {
		return err
	}
	if found {
		return fmt.Errorf("%w: the thread holds checkpoints its history order does not list (a damaged page)", ErrCorrupt)
	}
	return nil
}

// dropThreadChunk removes a thread's content oldest checkpoint first (so
// its newest state stays loadable until the end), then its blobs, then
// the thread bucket, at most budget keys per call; done says the thread is
// gone. shared: the transaction changed keys before this call, so a
// checkpoint's writes are not split (dropCheckpoint's whole).
func dropThreadChunk(w writer, thread string, budget int, shared bool, stats *GCStats) (used int, done bool, err error) {
	if !w.Exists(threadBucket(thread)) {
		return 0, true, nil
	}
	var refs []cpRef
	if err := w.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			return err
		}
		refs = append(refs, cpRef{ns, id})
		return keepScanning(len(refs) < budget/4+1)
	}); err != nil {
		return 0, false, err
	}
	if len(refs) == 0 {
		// Nothing in the history order: what an interrupted removal
		// leaves, unless damage hid the order from the scan.
		if err := leftoverOnly(w, thread); err != nil {
			return 0, false, err
		}
	}
	cpPath := threadPath(thread, bucketCheckpoints)
	for _, ref := range refs {
		if budget-used < 5 {
			return used, false, nil
		}
		if w.Get(cpPath, checkpointKey(ref.ns, ref.id)) == nil {
			// The history order names a checkpoint with no record (a
			// damaged key): dropCheckpoint would pass it over and leave
			// it, and every chunk after this one would find it again.
			return used, false, fmt.Errorf("%w: checkpoint %s of namespace %q is in the history order without its record", ErrCorrupt, idString(ref.id), ref.ns)
		}
		// Whole unless the transaction changed nothing yet (shared: it
		// did, before this call), as in step.
		n, ok, err := dropCheckpoint(w, thread, ref, budget-used, shared || used > 0, stats)
		used += n
		if err != nil || !ok {
			return used, false, err
		}
	}
	if len(refs) > 0 && hasCheckpoints(w, thread) {
		return used, false, nil
	}
	// No checkpoint left: the blobs and any stray record go.
	blPath := threadPath(thread, bucketBlobs)
	n, _, err := deleteRange(w, blPath, nil, budget-used, nil, &stats.BytesFreed)
	used += n
	stats.Blobs += n
	if err != nil {
		return used, false, err
	}
	var marks [][]byte
	if err := w.Scan(sweepPath, sweepThreadPrefix(thread), nil, false, func(k, _ []byte) error {
		marks = append(marks, bytes.Clone(k))
		return nil
	}); err != nil {
		return used, false, err
	}
	// The sweep marks, the bucket and its directory entry (dropThread).
	if used+len(marks)+2 > budget {
		return used, false, nil
	}
	if _, err := delAll(w, sweepPath, marks); err != nil {
		return used, false, err
	}
	if err := dropThread(w, thread); err != nil {
		return used, false, err
	}
	stats.Threads++
	return used + len(marks) + 2, true, nil
}
