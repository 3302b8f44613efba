package ckpt

// The retention methods of the Saver interface: Prune, DeleteForRuns and
// CopyThread. Prune and DeleteForRuns run on the engine in gc.go (bounded
// transactions, blob sweep); CopyThread is one transaction.

import (
	"bytes"
	"context"
	"fmt"
	"time"
)

// Prune applies strategy to each thread in threadIDs: PruneKeepLatest keeps
// the newest checkpoint of every namespace (with its metadata, values and
// pending writes) and removes the others with the values only they used;
// PruneDelete removes the threads. Unknown threads and an empty list are
// no-ops (still ErrClosed after Close, ErrReadOnly on a read-only handle,
// as any write); an invalid thread id or strategy fails before anything is
// removed. The work runs in transactions of at most 1,000 keys: if Prune
// fails midway, what it removed stays removed and calling it again
// finishes the job.
func (s *Store) Prune(ctx context.Context, threadIDs []string, strategy PruneStrategy) error {
	if strategy != PruneKeepLatest && strategy != PruneDelete {
		return fmt.Errorf("%w: unknown prune strategy %v", ErrInvalidConfig, strategy)
	}
	for _, id := range threadIDs {
		if err := validThread(id); err != nil {
			return err
		}
	}
	// Checked first: with no threads, or none stored, nothing else would.
	if err := s.idle(ctx, true); err != nil {
		return err
	}
	each := func(fn func(thread string) error) error {
		for _, thread := range threadIDs {
			if err := fn(thread); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := s.retain(ctx, each, func(r reader, thread string) (*threadJob, bool, error) {
		if strategy == PruneDelete {
			if !r.Exists(threadBucket(thread)) {
				return nil, false, nil
			}
			return &threadJob{thread: thread, whole: true}, false, nil
		}
		return planPolicy(r, thread, Policy{KeepLast: 1}, time.Time{}, s.tune.planLimit)
	}, nil)
	return err
}

// DeleteForRuns deletes, in every thread and namespace, the checkpoints
// whose metadata "run_id" is one of runIDs (a string), with their pending
// writes and the values no remaining checkpoint uses. Checkpoints of other
// runs are untouched (a checkpoint whose parent was deleted still loads;
// loading that parent is ErrNotFound). A thread left without checkpoints
// is removed. An empty list is a no-op (still ErrClosed after Close,
// ErrReadOnly on a read-only handle, as any write). It reads the metadata of every
// checkpoint, thread by thread, and deletes in transactions of at most
// 1,000 keys.
func (s *Store) DeleteForRuns(ctx context.Context, runIDs []string) error {
	// Checked first: with no runs, or none stored, nothing else would.
	if err := s.idle(ctx, true); err != nil || len(runIDs) == 0 {
		return err
	}
	runs := make(map[string]bool, len(runIDs))
	needles := make([][]byte, 0, len(runIDs))
	for _, id := range runIDs {
		if !runs[id] {
			runs[id] = true
			needles = append(needles, []byte(id))
		}
	}
	each := func(fn func(thread string) error) error { return s.eachThread(ctx, fn) }
	_, err := s.retain(ctx, each, func(r reader, thread string) (*threadJob, bool, error) {
		return planRuns(r, thread, runs, needles, s.tune.planLimit)
	}, nil)
	return err
}

// planRuns plans the deletion of the thread's checkpoints whose run_id is
// in runs (at most planLimit at once; more says there may be others).
func planRuns(r reader, thread string, runs map[string]bool, needles [][]byte, limit int) (*threadJob, bool, error) {
	job := &threadJob{thread: thread}
	more := false
	ts := seedOf(thread)
	err := r.Scan(threadPath(thread, bucketMetadata), nil, nil, false, func(k, v []byte) error {
		// Cheap pre-filter: the run id's bytes must appear in the record.
		hit := false
		for _, n := range needles {
			if bytes.Contains(v, n) {
				hit = true
				break
			}
		}
		if !hit {
			return nil
		}
		md, err := decodeMetadata(ts, k, v)
		if err != nil {
			return err
		}
		run, ok := md["run_id"].(string)
		if !ok || !runs[run] {
			return nil
		}
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			return err
		}
		if len(job.drop) == limit {
			more = true
			return errStop
		}
		job.drop = append(job.drop, cpRef{ns, id})
		return nil
	})
	if err != nil || len(job.drop) == 0 {
		return nil, false, err
	}
	return job, more, nil
}

// copyChunk is how many records CopyThread reads per scan: each chunk is
// copied out of the read cursor before it is written.
const copyChunk = 512

// CopyThread copies every checkpoint of srcThreadID, in all namespaces, to
// dstThreadID: headers, metadata, pending writes, channel values, keeping
// checkpoint ids (so order and parent links are the same), in one
// transaction. The source is unchanged. A missing source (no checkpoint) is
// ErrNotFound; a destination that holds checkpoints is ErrExists unless
// opts.Replace is set, which deletes the destination's old content in the
// same transaction. Source and destination must differ.
func (s *Store) CopyThread(ctx context.Context, srcThreadID, dstThreadID string, opts CopyOptions) error {
	if err := s.refusePlain(); err != nil {
		return err
	}
	if err := validThread(srcThreadID); err != nil {
		return err
	}
	if err := validThread(dstThreadID); err != nil {
		return err
	}
	if srcThreadID == dstThreadID {
		return fmt.Errorf("%w: copy of thread %q onto itself", ErrInvalidConfig, srcThreadID)
	}
	// Replace deletes the destination's content: not through damage that
	// came after Open (maint_check.go). A copy to a new thread only adds,
	// as a Put does, and pays no walk of the file.
	if opts.Replace {
		if err := s.checkPagesFirst(ctx, fmt.Sprintf("copy thread %q to %q", srcThreadID, dstThreadID)); err != nil {
			return err
		}
	}
	return s.write(ctx, func(w writer) error {
		if !hasCheckpoints(w, srcThreadID) {
			if err := historyHidden(w, srcThreadID); err != nil {
				return fmt.Errorf("copy from: %w", err)
			}
			return fmt.Errorf("%w: thread %q has no checkpoint to copy", ErrNotFound, srcThreadID)
		}
		if hasCheckpoints(w, dstThreadID) && !opts.Replace {
			return fmt.Errorf("%w: thread %q (copy with Replace to overwrite it)", ErrExists, dstThreadID)
		}
		if !opts.Replace {
			// A destination whose checkpoints damage hides is not free.
			if err := historyHidden(w, dstThreadID); err != nil {
				return fmt.Errorf("copy to: %w", err)
			}
		}
		// All checks are done: from here on, changes.
		if err := deleteThread(w, dstThreadID); err != nil {
			return err
		}
		if err := noteThread(w, dstThreadID); err != nil {
			return err
		}
		from, to := threadOf(srcThreadID), threadOf(dstThreadID)
		resealed := tallyDeltas{} // special writes sealed again for the copy (writeHash)
		for _, sub := range threadSubBuckets {
			if err := copyBucket(w, s.keys, sub, from, to, resealed); err != nil {
				return err
			}
			// Sequences number things inside the thread (list lineages):
			// the copy goes on from the same place.
			if n := w.Sequence(threadPath(srcThreadID, sub)); n != 0 {
				if err := w.RaiseSeq(threadPath(dstThreadID, sub), n); err != nil {
					return err
				}
			}
		}
		if err := resealed.apply(w, dstThreadID); err != nil {
			return err
		}
		// The copy's namespaces listed (thread_dir.go): those of its
		// records, and those the source lists (one whose records damage
		// hides in the source stays hidden, and reported, in the copy).
		if err := listNamespaces(w, dstThreadID); err != nil {
			return err
		}
		if err := copyNamespaces(w, srcThreadID, dstThreadID); err != nil {
			return err
		}
		return indexThread(w, dstThreadID, srcThreadID)
	})
}

// copyBucket copies every key of sub-bucket sub of thread from into the
// same sub-bucket of thread to, a chunk at a time (values are copied out
// of the cursor before writing), each record as copiedRecord gives it; d
// gathers what a pending write's new record changes in its tally.
func copyBucket(w writer, kr *keyring, sub []byte, from, to sumThread, d tallyDeltas) error {
	src, dst := threadPath(from.id, sub), threadPath(to.id, sub)
	var start []byte
	for {
		var keys, vals [][]byte
		if err := w.Scan(src, nil, start, false, func(k, v []byte) error {
			nv, err := copiedRecord(kr, sub, from, to, k, v)
			if err != nil {
				return err
			}
			if bytes.Equal(sub, bucketWrites) {
				d.rewrote(k, v, nv)
			}
			keys = append(keys, bytes.Clone(k))
			vals = append(vals, bytes.Clone(nv))
			return keepScanning(len(keys) < copyChunk)
		}); err != nil {
			// The scan refuses keys out of order (a damaged page), which
			// the copy's bucket would sort into place: no copy.
			return fmt.Errorf("copy of thread %q (%s/): %w", from.id, sub, err)
		}
		for i := range keys {
			if err := w.Put(dst, keys[i], vals[i]); err != nil {
				return err
			}
		}
		if len(keys) < copyChunk {
			return nil
		}
		start = append(keys[len(keys)-1], 0)
	}
}

// indexThread adds a global index entry for every checkpoint of thread,
// copied from thread from. An ids/ entry naming no stored checkpoint is
// damage (no record sum covers its key: a flipped byte can make it any
// id, one newer than every checkpoint of the store): indexed, it would
// place the copy by an id never written, ahead of threads truly newer,
// with only the copy's own entry of a RecentThreads page reporting it,
// so the copy is refused.
func indexThread(w writer, thread, from string) error {
	var start []byte
	cps := threadPath(thread, bucketCheckpoints)
	for {
		var idx [][]byte
		if err := w.Scan(threadPath(thread, bucketOrder), nil, start, false, func(k, _ []byte) error {
			id, ns, err := parseOrderKey(k)
			if err != nil {
				return err
			}
			if !w.Has(cps, checkpointKey(ns, id)) {
				return fmt.Errorf("%w: copy of thread %q: history order entry %x for a checkpoint that is not stored", ErrCorrupt, from, k)
			}
			idx = append(idx, indexKey(id, thread, ns))
			start = append(bytes.Clone(k), 0)
			return keepScanning(len(idx) < copyChunk)
		}); err != nil {
			return err
		}
		for _, k := range idx {
			if err := w.Put(bucketPath{bucketIndex}, k, nil); err != nil {
				return err
			}
		}
		if len(idx) < copyChunk {
			return nil
		}
	}
}
