package ckpt

// Retention: policies (keep-last-N, max age, thread TTL), the GC that
// applies them on demand or from a background sweeper, and the engine
// shared with Prune and DeleteForRuns (retention.go).
//
// The engine plans thread by thread: a read transaction decides which
// checkpoints of a thread go (a threadJob). Bounded write transactions,
// queued through the commit loop like any other write, carry the jobs out,
// several small threads per transaction. Each write transaction changes at
// most gcTxKeys keys and re-checks what the plan assumed (the checkpoint is
// still there, a namespace head is still not deleted, an expired thread is
// still expired), so writers running between two of them are never blocked
// for long and never lose data.
//
// What a kept checkpoint needs is never lost: its channel blobs (even when
// written by a deleted older checkpoint; blobs are shared by every checkpoint
// whose versions name them), its metadata and its pending writes. After the
// checkpoints of a namespace are deleted, its blobs that no remaining
// checkpoint references (blobRefs) are deleted too. The transaction that
// deletes checkpoints also marks the namespace for that sweep (bucket
// sweep/), and the sweep's last transaction removes the mark: a run that
// stops in between (cancelled, crashed) leaves the mark, and the next run
// of GC, Prune or DeleteForRuns finishes the sweep first.
//
// A sweep reads the headers of the namespace's remaining checkpoints inside
// its transaction (gcTxKeys bounds changes, not reads): cheap after
// KeepLast, proportional to what is kept otherwise.

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// gcTxKeys is the most keys one retention transaction changes (GC, the
// background sweeper, Prune, DeleteForRuns). A deleted checkpoint costs 4
// keys (header, metadata, thread order, global index) plus one per pending
// write; a blob costs one; a sweep mark one. Other writers run between two
// such transactions, so this bounds how long retention holds them up.
// The exported docs say "1,000 keys": change them with it.
//
// Why 1,000 (it was 10,000): a writer's op is acknowledged with the whole
// group it was committed in, and GC queues its next transaction as soon as
// the last one commits, so beside GC nearly every group carries one GC
// transaction and every writer waits for all of it. Carrying out a key
// costs the commit loop about 3 µs (a CPU profile of W4's GC at 100,000
// checkpoints: 2.6 s in the GC's steps for 838,000 keys), so 10,000 keys
// held each group ~30 ms of CPU, several times that on a loaded machine:
// 16 Sync writers' step p50 went from 4 ms to 190 ms beside GC. 1,000
// keys cost about 3 ms, less than a writer's step alone; GC pays one
// group's round trip per 1,000 keys instead of per 10,000
// (bench/RESULTS.md, "Issue 18: GC beside writers").
const gcTxKeys = 1_000

// The retention engine's limits (planLimit, maxBatchJobs, namePage) are
// the store's tuning (tuning.go), so tests make them small per store.

// Policy says which checkpoints GC removes. Its rules combine: a checkpoint
// is removed when any rule selects it, except that the newest checkpoint of
// each (thread, namespace) is removed only with its whole thread (ThreadTTL),
// because the next step of a run starts from it. The zero Policy removes
// nothing.
//
// Age is measured from the time in a checkpoint's id (its ULID, the creation
// time), which the global index is sorted by: finding old checkpoints is a
// range scan, not a scan of every thread.
type Policy struct {
	// KeepLast, if positive, keeps the newest KeepLast checkpoints of each
	// thread and namespace and removes the older ones.
	KeepLast int
	// MaxAge, if positive, removes checkpoints older than MaxAge (never
	// the newest of a thread and namespace).
	MaxAge time.Duration
	// ThreadTTL, if positive, removes whole threads (every namespace) whose
	// newest checkpoint is older than ThreadTTL.
	ThreadTTL time.Duration
	// DryRun computes what GC would remove without removing anything.
	DryRun bool
	// Progress, if set, is called after each committed transaction with
	// what the run has removed so far (for progress bars).
	Progress func(sofar GCStats)
}

func (p Policy) validate() error {
	if p.KeepLast < 0 || p.MaxAge < 0 || p.ThreadTTL < 0 {
		return fmt.Errorf("%w: retention policy with a negative value: %+v", ErrInvalidConfig, p)
	}
	return nil
}

func (p Policy) isZero() bool { return p.KeepLast == 0 && p.MaxAge == 0 && p.ThreadTTL == 0 }

// GCStats says what a retention run removed (or, in a dry run, would
// remove).
type GCStats struct {
	// Threads is the number of whole threads removed.
	Threads int `json:"threads"`
	// Checkpoints is the number of checkpoints removed, with their metadata
	// and index entries.
	Checkpoints int `json:"checkpoints"`
	// Writes is the number of pending writes removed.
	Writes int `json:"pending_writes"`
	// Blobs is the number of stored channel values removed.
	Blobs int `json:"channel_values"`
	// Segments is the number of list segments (append-deltas) removed.
	Segments int `json:"list_segments"`
	// BytesFreed is the size of the keys and values removed. bbolt reuses
	// the freed pages for new data; the file itself shrinks only with
	// Compact.
	BytesFreed int64 `json:"bytes_freed"`
}

func (a *GCStats) add(b GCStats) {
	a.Threads += b.Threads
	a.Checkpoints += b.Checkpoints
	a.Writes += b.Writes
	a.Blobs += b.Blobs
	a.Segments += b.Segments
	a.BytesFreed += b.BytesFreed
}

// GC removes what p selects, thread by thread, in transactions of at most
// 1,000 keys. It can run while the store is in use. If it fails or ctx
// ends, what it removed so far stays removed (with consistent indexes and
// blobs) and the returned stats count it; running it again finishes the job.
func (s *Store) GC(ctx context.Context, p Policy) (st GCStats, err error) {
	var total GCStats
	defer s.gcDone(&p, &st, &err)()
	if err := p.validate(); err != nil {
		return total, err
	}
	if s.readOnly && !p.DryRun {
		return total, ErrReadOnly
	}
	if err := s.eng.Failed(); err != nil && !p.DryRun {
		return total, err // fail-stop (internal/engine/failstop.go), even with nothing to remove
	}
	if p.isZero() {
		return total, ctx.Err()
	}
	now := time.Now()
	each := func(fn func(thread string) error) error { return s.eachPolicyThread(ctx, p, now, fn) }
	if p.DryRun {
		err := each(func(thread string) error {
			return s.view(ctx, func(r reader) error {
				// No limit: a dry run changes nothing, so it must see
				// everything at once.
				job, _, err := planPolicy(r, thread, p, now, 0)
				if err != nil || job == nil {
					return err
				}
				st, err := job.estimate(r)
				total.add(st)
				return err
			})
		})
		return total, err
	}
	return s.retain(ctx, each, func(r reader, thread string) (*threadJob, bool, error) {
		return planPolicy(r, thread, p, now, s.tune.planLimit)
	}, p.Progress)
}

// retain plans each thread (in a read transaction) and carries the jobs
// out, several threads per transaction. A plan cut at planLimit is carried
// out before the thread is planned again.
func (s *Store) retain(ctx context.Context, each func(fn func(thread string) error) error, plan func(r reader, thread string) (*threadJob, bool, error), progress func(GCStats)) (GCStats, error) {
	b := jobBatch{s: s, progress: progress}
	if err := s.finishSweeps(ctx, &b); err != nil {
		return b.stats, err
	}
	err := each(func(thread string) error {
		for {
			var job *threadJob
			var more bool
			err := s.view(ctx, func(r reader) (err error) {
				job, more, err = plan(r, thread)
				return err
			})
			if err != nil || job == nil {
				return err
			}
			if err := b.add(ctx, job); err != nil || !more {
				return err
			}
			if err := b.flush(ctx); err != nil {
				return err
			}
		}
	})
	if err == nil {
		err = b.flush(ctx)
	}
	return b.stats, err
}

// finishSweeps carries out the blob sweeps an earlier run left pending
// (it was interrupted between deleting checkpoints and sweeping).
func (s *Store) finishSweeps(ctx context.Context, b *jobBatch) error {
	page := s.tune.namePage
	var start []byte
	for {
		var jobs []*threadJob
		var next []byte
		err := s.view(ctx, func(r reader) error {
			n := 0
			return r.Scan(sweepPath, nil, start, false, func(k, _ []byte) error {
				thread, ns, err := parseSweepKey(k)
				if err != nil {
					return err
				}
				if len(jobs) == 0 || jobs[len(jobs)-1].thread != thread {
					jobs = append(jobs, &threadJob{thread: thread})
				}
				job := jobs[len(jobs)-1]
				job.sweep = append(job.sweep, ns)
				if n++; n == page {
					next = append(bytes.Clone(k), 0)
					return errStop
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for _, job := range jobs {
			if err := b.add(ctx, job); err != nil {
				return err
			}
		}
		if next == nil {
			return b.flush(ctx)
		}
		start = next
	}
}

// jobBatch gathers planned jobs so that small threads share transactions
// (each transaction still changes at most gcTxKeys keys): pruning 1,000
// small threads takes a few dozen commits, not 1,000.
type jobBatch struct {
	s        *Store
	jobs     []*threadJob
	planned  int
	stats    GCStats
	progress func(GCStats) // called after each flush, may be nil
}

func (b *jobBatch) add(ctx context.Context, job *threadJob) error {
	b.jobs = append(b.jobs, job)
	b.planned += 1 + len(job.drop)
	if b.planned >= b.s.tune.planLimit || len(b.jobs) >= b.s.tune.maxBatchJobs {
		return b.flush(ctx)
	}
	return nil
}

func (b *jobBatch) flush(ctx context.Context) error {
	if len(b.jobs) == 0 {
		return nil
	}
	st, err := b.s.runJobs(ctx, b.jobs)
	b.stats.add(st)
	b.jobs, b.planned = b.jobs[:0], 0
	if b.progress != nil {
		b.progress(b.stats)
	}
	return err
}

// eachPolicyThread calls fn with every thread p may touch. A policy with
// only age rules finds its threads through the global index (only threads
// holding a checkpoint older than the youngest age limit); KeepLast needs
// every thread. Names are read a page at a time, with no transaction open
// while fn runs.
func (s *Store) eachPolicyThread(ctx context.Context, p Policy, now time.Time, fn func(thread string) error) error {
	page := s.tune.namePage
	if p.KeepLast > 0 {
		return s.eachThread(ctx, fn)
	}
	age := p.MaxAge
	if age == 0 || p.ThreadTTL > 0 && p.ThreadTTL < age {
		age = p.ThreadTTL
	}
	cutoff := now.Add(-age)
	seen := map[string]bool{}
	var start []byte
	for {
		var names []string
		var next []byte
		err := s.view(ctx, func(r reader) error {
			return r.Scan(bucketPath{bucketIndex}, nil, start, false, func(k, _ []byte) error {
				id, thread, _, err := parseIndexKey(k)
				if err != nil {
					return err
				}
				if !idTime(id).Before(cutoff) {
					return errStop
				}
				if !seen[thread] {
					seen[thread] = true
					names = append(names, thread)
					if len(names) == page {
						next = append(bytes.Clone(k), 0)
						return errStop
					}
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := fn(name); err != nil {
				return err
			}
		}
		if next == nil {
			return ctx.Err()
		}
		start = next
	}
}

// eachThread calls fn with the name of every thread, reading names a page
// at a time with no transaction open while fn runs.
func (s *Store) eachThread(ctx context.Context, fn func(thread string) error) error {
	page := s.tune.namePage
	var after []byte
	for {
		var names []string
		err := s.view(ctx, func(r reader) error {
			return r.Buckets(threadsRoot, after, func(name []byte) error {
				names = append(names, string(name))
				return keepScanning(len(names) < page)
			})
		})
		if err != nil {
			return err
		}
		for _, name := range names {
			if err := fn(name); err != nil {
				return err
			}
		}
		if len(names) < page {
			return ctx.Err()
		}
		after = []byte(names[len(names)-1])
	}
}

// idTime is the creation time carried in a checkpoint id.
func idTime(id [idLen]byte) time.Time { return ulid.Time(ulid.ULID(id).Time()) }

// cpRef names one checkpoint inside a thread.
type cpRef struct {
	ns string
	id [idLen]byte
}

// threadJob is the retention work planned for one thread. Its phases run
// in order: drop the planned checkpoints, sweep the blobs of the namespaces
// they were in, and, if the thread is then empty (or whole is set from the
// start), remove the thread itself.
type threadJob struct {
	thread string
	// drop lists checkpoints to delete, oldest first per namespace.
	drop []cpRef
	// sweep lists namespaces to sweep even if nothing is dropped there
	// (sweeps left pending by an interrupted run).
	sweep []string
	// keepHeads refuses to delete the newest checkpoint of a namespace
	// (re-checked when deleting, as writers may have run since planning).
	keepHeads bool
	// whole removes the entire thread.
	whole bool
	// stillWhole, if set, is re-checked before each transaction of a whole
	// removal; when it no longer holds (a writer brought the thread back
	// to life), the removal stops and what is left stays consistent.
	stillWhole func(r reader) bool
}

// jobState is how far a job got. A transaction works on a copy and the
// copy replaces the state only once it committed, so a transaction the
// commit loop retries starts from the same place.
type jobState struct {
	phase int
	next  int // index into drop
	nss   []string
	nsIdx int // index into nss
	// requireEmpty: the whole phase runs only while the thread holds no
	// checkpoint (it was emptied by the drop phase).
	requireEmpty bool
}

const (
	phaseDrop = iota
	phaseSweep
	phaseWhole
	phaseDone
)

// newJobState is where a job starts.
func newJobState(job *threadJob) jobState {
	st := jobState{phase: phaseDrop}
	if job.whole {
		st.phase = phaseWhole
	}
	for _, ref := range job.drop {
		if !slices.Contains(st.nss, ref.ns) {
			st.nss = append(st.nss, ref.ns)
		}
	}
	for _, ns := range job.sweep {
		if !slices.Contains(st.nss, ns) {
			st.nss = append(st.nss, ns)
		}
	}
	return st
}

// runJobs carries out jobs in order, in write transactions that each change
// at most gcTxKeys keys and work through as many jobs as fit.
func (s *Store) runJobs(ctx context.Context, jobs []*threadJob) (GCStats, error) {
	var total GCStats
	states := make([]jobState, len(jobs))
	for i, job := range jobs {
		states[i] = newJobState(job)
	}
	for i := 0; i < len(jobs); {
		var next []jobState
		var ni int
		var stats GCStats
		err := s.maintain(ctx, func(w writer) error {
			// Work on copies: the commit loop may run this again.
			next, ni, stats = slices.Clone(states), i, GCStats{}
			budget := s.tune.gcTxKeys
			for ni < len(jobs) && budget > 0 {
				st, jst, used, err := jobs[ni].step(w, next[ni], budget)
				if err != nil {
					return fmt.Errorf("thread %q: %w", jobs[ni].thread, err)
				}
				next[ni] = st
				stats.add(jst)
				budget -= used
				if st.phase != phaseDone {
					break
				}
				ni++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("ckpt: retention: %w", err)
		}
		total.add(stats)
		states, i = next, ni
	}
	return total, nil
}

// maintain queues a retention transaction. It is never acknowledged before
// it commits (an Async context or store default becomes Sync): the caller
// needs its outcome to go on.
func (s *Store) maintain(ctx context.Context, apply func(w writer) error) error {
	wo := writeOptionsFrom(ctx)
	if wo.Durability == DurabilityDefault {
		wo.Durability = s.durability
	}
	if wo.Durability == Async {
		wo.Durability = Sync
	}
	wo.IfHead = false
	return s.write(WithWriteOptions(ctx, wo), apply)
}

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
				if j.keepHeads && bytes.Equal(headID(w, j.thread, ref.ns), ref.id[:]) {
					st.next++
					continue
				}
				used, done, err := dropCheckpoint(w, j.thread, ref, budget, &stats)
				if err != nil {
					return ret(err)
				}
				budget -= used
				if !done {
					return ret(nil) // the budget ran out; go on next time
				}
				st.next++
			}
			st.phase = phaseSweep
		case phaseSweep:
			for st.nsIdx < len(st.nss) {
				used, done, err := sweepBlobs(w, j.thread, st.nss[st.nsIdx], budget, &stats)
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
			used, done, err := dropThreadChunk(w, j.thread, budget, &stats)
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

// dropCheckpoint deletes one checkpoint: its pending writes first, then its
// header, metadata, order and index entries, spending at most budget keys.
// done is false when its writes did not all fit; the rest go next time (the
// checkpoint itself stays until its last write is gone, so it is never
// half-indexed). In the same transaction it marks its namespace for a blob
// sweep (sweepKey), unless already marked.
func dropCheckpoint(w writer, thread string, ref cpRef, budget int, stats *GCStats) (used int, done bool, err error) {
	key := checkpointKey(ref.ns, ref.id)
	cpPath := threadPath(thread, bucketCheckpoints)
	rec := w.Get(cpPath, key)
	if rec == nil {
		return 0, true, nil // already gone
	}
	wrPath := threadPath(thread, bucketWrites)
	n, _, err := deleteRange(w, wrPath, key, budget, nil, &stats.BytesFreed)
	used += n
	stats.Writes += n
	if err != nil {
		return used, false, err
	}
	mark := sweepKey(thread, ref.ns)
	need := 4
	if w.Get(sweepPath, mark) == nil {
		need++
	}
	if budget-used < need {
		return used, false, nil // (this also covers writes cut short by the budget)
	}
	if need == 5 {
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
	stats.Checkpoints++
	return used + len(dels), true, nil
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
// skipping those for which skip is true.
func liveBlobs(r reader, thread, ns string, skip func(id [idLen]byte) bool) (map[string]struct{}, error) {
	live := map[string]struct{}{}
	prefix := nsKey(ns)
	err := r.Scan(threadPath(thread, bucketCheckpoints), prefix, nil, false, func(k, v []byte) error {
		if skip != nil && skip([idLen]byte(k[len(prefix):])) {
			return nil
		}
		rec, err := decodeCheckpointRecord(v)
		if err != nil {
			return fmt.Errorf("checkpoint %s: %w", idString([idLen]byte(k[len(prefix):])), err)
		}
		for _, ref := range blobRefs(rec, ns) {
			live[string(ref)] = struct{}{}
		}
		return nil
	})
	return live, err
}

// sweepBlobs deletes the blobs of (thread, ns) that no checkpoint of that
// namespace references, at most budget keys; done says all are gone (and
// the namespace's sweep mark with them). The references are read in the
// same transaction as the deletion, so a checkpoint written a moment ago
// that reuses an old version keeps it.
func sweepBlobs(w writer, thread, ns string, budget int, stats *GCStats) (used int, done bool, err error) {
	live, err := liveBlobs(w, thread, ns, nil)
	if err != nil {
		return 0, false, err
	}
	blPath := threadPath(thread, bucketBlobs)
	isLive := func(k []byte) bool { _, ok := live[string(k)]; return ok }
	n, done, err := deleteRange(w, blPath, nsKey(ns), budget, isLive, &stats.BytesFreed)
	used += n
	stats.Blobs += n
	if err != nil {
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
	r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(_, _ []byte) error { found = true; return errStop })
	return found
}

// newestBefore reports whether the thread's newest checkpoint (in any
// namespace) is older than cutoff; a thread without checkpoints is.
func newestBefore(r reader, thread string, cutoff time.Time) bool {
	newest := true
	r.Scan(threadPath(thread, bucketOrder), nil, nil, true, func(k, _ []byte) error {
		newest = len(k) >= idLen && idTime([idLen]byte(k[:idLen])).Before(cutoff)
		return errStop
	})
	return newest
}

// dropThreadChunk removes a thread's content oldest checkpoint first (so
// its newest state stays loadable until the end), then its blobs, then
// the thread bucket, at most budget keys per call; done says the thread is
// gone.
func dropThreadChunk(w writer, thread string, budget int, stats *GCStats) (used int, done bool, err error) {
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
	for _, ref := range refs {
		if budget-used < 5 {
			return used, false, nil
		}
		n, ok, err := dropCheckpoint(w, thread, ref, budget-used, stats)
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
	if used+len(marks)+1 > budget {
		return used, false, nil
	}
	if _, err := delAll(w, sweepPath, marks); err != nil {
		return used, false, err
	}
	if err := w.DropBucket(threadBucket(thread)); err != nil {
		return used, false, err
	}
	stats.Threads++
	return used + len(marks) + 1, true, nil
}

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
	err = r.Scan(threadPath(thread, bucketOrder), nil, nil, true, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			return err
		}
		seen[ns]++
		n := seen[ns]
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
		r.Scan(threadPath(j.thread, bucketWrites), key, nil, false, func(k, v []byte) error {
			stats.Writes++
			stats.BytesFreed += int64(len(k) + len(v))
			return nil
		})
	}
	remaining := false
	r.Scan(threadPath(j.thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
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
	for ns, ids := range dropped {
		live, err := liveBlobs(r, j.thread, ns, func(id [idLen]byte) bool { return ids[id] })
		if err != nil {
			return stats, err
		}
		r.Scan(threadPath(j.thread, bucketBlobs), nsKey(ns), nil, false, func(k, v []byte) error {
			if _, ok := live[string(k)]; !ok {
				stats.Blobs++
				stats.BytesFreed += int64(len(k) + len(v))
			}
			return nil
		})
	}
	return stats, nil
}

// estimateThread adds to stats everything removing the thread removes.
func estimateThread(r reader, thread string, stats *GCStats) error {
	if !r.Exists(threadBucket(thread)) {
		return nil
	}
	stats.Threads++
	// An unreadable key ends the count, but the sizes below are still
	// added (the caller reports them with the error).
	err := r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			return err
		}
		stats.Checkpoints++
		stats.BytesFreed += int64(len(k) + len(indexKey(id, thread, ns)))
		return nil
	})
	for _, sub := range [][]byte{bucketCheckpoints, bucketMetadata, bucketWrites, bucketBlobs} {
		r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
			stats.BytesFreed += int64(len(k) + len(v))
			switch {
			case bytes.Equal(sub, bucketWrites):
				stats.Writes++
			case bytes.Equal(sub, bucketBlobs):
				stats.Blobs++
			}
			return nil
		})
	}
	return err
}

// sweeper runs GC in the background until stopped.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// startSweeper runs GC with p every interval until stopSweeper.
func (s *Store) startSweeper(interval time.Duration, p Policy, onSweep func(GCStats, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	sw := &sweeper{cancel: cancel, done: make(chan struct{})}
	s.sweep = sw
	go func() {
		defer close(sw.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			st, err := s.GC(ctx, p)
			if ctx.Err() != nil {
				// Stopped by Close: report what was done, without the
				// cancellation as an error.
				err = nil
			}
			if onSweep != nil {
				onSweep(st, err)
			}
		}
	}()
}

// stopSweeper stops the background sweeper (if any) and waits for it: a
// sweep in progress ends after its current transaction.
func (s *Store) stopSweeper() {
	if sw := s.sweep; sw != nil {
		sw.once.Do(func() {
			sw.cancel()
			<-sw.done
		})
	}
}
