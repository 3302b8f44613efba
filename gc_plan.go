package ckpt

// Retention's read side: which checkpoints of a thread a Policy selects,
// and what carrying out a plan would remove (DryRun's estimate).

import (
	"bytes"
	"fmt"
	"slices"
	"time"
)

// planPolicy plans p on one thread: nil when there is nothing to do. more
// says the plan was cut at limit (0: no limit) and the thread must be
// planned again once it is carried out.
func planPolicy(r reader, thread string, p Policy, now time.Time, limit int) (job *threadJob, more bool, err error) {
	if !r.Exists(threadBucket(thread)) {
		return nil, false, nil
	}
	if !hasCheckpoints(r, thread) {
		// Left over by an interrupted removal: finish it.
		return &threadJob{thread: thread, whole: true, stillWhole: func(r reader) bool { return !hasCheckpoints(r, thread) }}, false, nil
	}
	if p.ThreadTTL > 0 {
		cutoff := now.Add(-p.ThreadTTL)
		if newestBefore(r, thread, cutoff) {
			return &threadJob{thread: thread, whole: true, stillWhole: func(r reader) bool { return newestBefore(r, thread, cutoff) }}, false, nil
		}
	}
	if p.KeepLast == 0 && p.MaxAge == 0 {
		return nil, false, nil
	}
	ageCutoff := now.Add(-p.MaxAge)
	job = &threadJob{thread: thread, keepHeads: true}
	seen := map[string]int{}
	cpPath := threadPath(thread, bucketCheckpoints)
	err = r.Scan(threadPath(thread, bucketOrder), nil, nil, true, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			return err
		}
		seen[ns]++
		n := seen[ns]
		// The entries the policy keeps by their count (the head, and the
		// KeepLast newest) must be checkpoints of ns: one a damaged byte
		// moved here from another namespace (in order: ids/ sorts by id
		// first) took a kept place, and the namespace's last kept
		// checkpoint was dropped, in a transaction before the sweep's
		// count of cp/ could say so (TestGCKeepLastOverAnOrderEntryInAnotherNamespace).
		// A lookup per kept entry.
		if (n == 1 || n <= p.KeepLast) && !r.Has(cpPath, checkpointKey(ns, id)) {
			return errRecordMissing(thread, ns, id)
		}
		if n == 1 {
			return nil // the namespace head stays
		}
		if p.KeepLast > 0 && n > p.KeepLast || p.MaxAge > 0 && idTime(id).Before(ageCutoff) {
			if limit > 0 && len(job.drop) == limit {
				more = true
				return errStop
			}
			job.drop = append(job.drop, cpRef{ns, id})
		}
		return nil
	})
	if err != nil || len(job.drop) == 0 {
		return nil, false, err
	}
	slices.Reverse(job.drop) // oldest first
	return job, more, nil
}

// estimate computes, in one read transaction, what running the job would
// remove: the dry run of GC.
func (j *threadJob) estimate(r reader) (GCStats, error) {
	var stats GCStats
	if j.whole {
		return stats, estimateThread(r, j.thread, &stats)
	}
	dropped := map[string]map[[idLen]byte]bool{}
	for _, ref := range j.drop {
		if dropped[ref.ns] == nil {
			dropped[ref.ns] = map[[idLen]byte]bool{}
		}
		dropped[ref.ns][ref.id] = true
		key := checkpointKey(ref.ns, ref.id)
		rec := r.Get(threadPath(j.thread, bucketCheckpoints), key)
		if rec == nil {
			continue
		}
		md := r.Get(threadPath(j.thread, bucketMetadata), key)
		stats.Checkpoints++
		stats.BytesFreed += int64(2*len(key) + len(rec) + len(md) + len(orderKey(ref.id, ref.ns)) + len(indexKey(ref.id, j.thread, ref.ns)))
		if err := r.Scan(threadPath(j.thread, bucketWrites), key, nil, false, func(k, v []byte) error {
			stats.Writes++
			stats.BytesFreed += int64(len(k) + len(v))
			return nil
		}); err != nil {
			// A key out of order was passed over: the count is short.
			return stats, fmt.Errorf("thread %q: wr/: %w", j.thread, err)
		}
	}
	remaining := false
	// Its error is planPolicy's: the plan walked the whole of ids/ in this
	// transaction (a dry run plans without a limit) and returned it.
	_ = r.Scan(threadPath(j.thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		remaining = err != nil || !dropped[ns][id]
		return keepScanning(!remaining)
	})
	if !remaining {
		var rest GCStats
		if err := estimateThread(r, j.thread, &rest); err != nil {
			return stats, err
		}
		stats.Threads = 1
		stats.Blobs = rest.Blobs
		stats.BytesFreed = rest.BytesFreed
		stats.Writes = rest.Writes
		return stats, nil
	}
	named, err := countOrder(r, j.thread)
	if err != nil {
		return stats, err
	}
	for ns, ids := range dropped {
		live, err := liveBlobs(r, j.thread, ns, func(id [idLen]byte) bool { return ids[id] }, named)
		if err != nil {
			return stats, err
		}
		if err := r.Scan(threadPath(j.thread, bucketBlobs), nsKey(ns), nil, false, func(k, v []byte) error {
			if _, ok := live[string(k)]; !ok {
				stats.Blobs++
				stats.BytesFreed += int64(len(k) + len(v))
			}
			return nil
		}); err != nil {
			return stats, fmt.Errorf("thread %q: bl/: %w", j.thread, err)
		}
	}
	return stats, nil
}

// estimateThread adds to stats everything removing the thread removes.
func estimateThread(r reader, thread string, stats *GCStats) error {
	if !r.Exists(threadBucket(thread)) {
		return nil
	}
	stats.Threads++
	// An unreadable key or one out of order ends a count, but the sizes
	// of the other buckets are still added (the caller reports them with
	// the first error).
	err := r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			return err
		}
		stats.Checkpoints++
		stats.BytesFreed += int64(len(k) + len(indexKey(id, thread, ns)))
		return nil
	})
	if err != nil {
		err = fmt.Errorf("thread %q: ids/: %w", thread, err)
	}
	for _, sub := range [][]byte{bucketCheckpoints, bucketMetadata, bucketWrites, bucketBlobs} {
		serr := r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
			stats.BytesFreed += int64(len(k) + len(v))
			switch {
			case bytes.Equal(sub, bucketWrites):
				stats.Writes++
			case bytes.Equal(sub, bucketBlobs):
				stats.Blobs++
			}
			return nil
		})
		if serr != nil && err == nil {
			err = fmt.Errorf("thread %q: %s/: %w", thread, sub, serr)
		}
	}
	return err
}

// estimateSweeps computes what carrying out the pending sweeps removes
// (finishSweeps, sweepBlobs), but for a namespace a policy's job in
// counted already counts: its estimate takes every value no checkpoint
// it keeps refers to, the pending sweep's among them.
func estimateSweeps(r reader, counted map[string]*threadJob) (GCStats, error) {
	var stats GCStats
	err := r.Scan(sweepPath, nil, nil, false, func(k, _ []byte) error {
		thread, ns, err := parseSweepKey(k)
		if err != nil {
			return err
		}
		if job := counted[thread]; job != nil && (job.whole || slices.ContainsFunc(job.drop, func(ref cpRef) bool { return ref.ns == ns })) {
			return nil
		}
		named, err := countOrder(r, thread)
		if err != nil {
			return err
		}
		live, err := liveBlobs(r, thread, ns, nil, named)
		if err != nil {
			return err
		}
		if err := r.Scan(threadPath(thread, bucketBlobs), nsKey(ns), nil, false, func(k, v []byte) error {
			if _, ok := live[string(k)]; !ok {
				stats.Blobs++
				stats.BytesFreed += int64(len(k) + len(v))
			}
			return nil
		}); err != nil {
			return fmt.Errorf("thread %q: bl/: %w", thread, err)
		}
		return nil
	})
	return stats, err
}

// validate names the first negative rule and what its zero means: the
// whole struct, printed, named no field and showed Progress as <nil>.
func (p Policy) validate() error {
	switch {
	case p.KeepLast < 0:
		return fmt.Errorf("%w: Policy.KeepLast is %d: give zero (the rule off) or the count of newest checkpoints to keep", ErrInvalidConfig, p.KeepLast)
	case p.MaxAge < 0:
		return fmt.Errorf("%w: Policy.MaxAge is %v: give zero (the rule off) or a positive age", ErrInvalidConfig, p.MaxAge)
	case p.ThreadTTL < 0:
		return fmt.Errorf("%w: Policy.ThreadTTL is %v: give zero (the rule off) or a positive age", ErrInvalidConfig, p.ThreadTTL)
	}
	return nil
}
