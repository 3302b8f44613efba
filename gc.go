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
	"time"

	"github.com/oklog/ulid/v2"
)

// gcTxKeys is the most keys one retention transaction changes (GC, the
// background sweeper, Prune, DeleteForRuns). A deleted checkpoint costs 4
// keys (header, metadata, thread order, global index) plus one per pending
// write; a blob costs one; a sweep mark one. Other writers run between two
// such transactions, so this bounds how long retention holds them up.
// One exception: a checkpoint is never split across transactions (readers
// between them would see it with part of its pending writes), so one with
// more writes than this goes whole, in a larger transaction of its own
// (gc_steps.go, dropCheckpoint). The exported docs say "1,000 keys":
// change them with it.
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
	// Progress, if set, is called after each batch of planned threads is
	// carried out (one or more committed transactions) with what the run
	// has removed so far (for progress bars).
	Progress func(sofar GCStats)
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
// 1,000 keys (a checkpoint with more pending writes than that goes whole,
// in one larger transaction: no reader sees part of a checkpoint). It can
// run while the store is in use. If it fails or ctx
// ends, what it removed so far stays removed (with consistent indexes and
// blobs) and the returned stats count it; running it again finishes the job.
func (s *Store) GC(ctx context.Context, p Policy) (st GCStats, err error) {
	var total GCStats
	began := false // past the refusals: a run (Metrics.GCRuns)
	defer s.gcDone(&p, &st, &err, &began)()
	if err := p.validate(); err != nil {
		return total, err
	}
	if s.readOnly && !p.DryRun {
		return total, ErrReadOnly
	}
	if err := s.eng.Failed(); err != nil && !p.DryRun {
		return total, err // fail-stop (internal/engine/failstop.go), even with nothing to remove
	}
	began = true
	if p.isZero() {
		return total, s.idle(ctx, false)
	}
	now := time.Now()
	each := func(fn func(thread string) error) error { return s.eachPolicyThread(ctx, p, now, fn) }
	if p.DryRun {
		// What a GC would remove now: after the writes queued before it,
		// as retain plans (seeQueued).
		if err := s.seeQueued(ctx); err != nil {
			return total, err
		}
		counted := map[string]*threadJob{} // what the sweeps must not count again
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
				job.whole = job.whole || st.Threads > 0
				counted[thread] = job
				return err
			})
		})
		if err == nil {
			// GC first carries out the sweeps an earlier run left
			// pending (finishSweeps); 'ckpt gc' writes only if its dry
			// run selects something.
			err = s.view(ctx, func(r reader) error {
				st, err := estimateSweeps(r, counted)
				total.add(st)
				return err
			})
		}
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
	// The plans read snapshots: first every write queued before the call.
	if err := s.seeQueued(ctx); err != nil {
		return b.stats, err
	}
	// Failed meanwhile (a log fsync in flight): refuse, even with nothing to remove.
	if err := s.eng.Failed(); err != nil {
		return b.stats, err
	}
	if err := s.finishSweeps(ctx, &b); err != nil {
		return b.stats, err
	}
	err := each(func(thread string) error {
		var prev *threadJob // the plan cut at planLimit carried out last
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
			if prev != nil && prev.dropped == 0 && slices.Equal(job.drop, prev.drop) {
				// Carried out, it dropped none of its checkpoints and
				// they are all still in the history order: a damaged
				// key hides their records from lookups (or their order
				// entries from deletion), and this plan would come back
				// for ever.
				return fmt.Errorf("%w: thread %q: retention cannot drop checkpoints its history order names (a damaged key hides them)", ErrCorrupt, thread)
			}
			if err := b.add(ctx, job); err != nil || !more {
				return err
			}
			if err := b.flush(ctx); err != nil {
				return err
			}
			prev = job
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
	// walked: the file's pages were checked (maint_check.go) before the
	// call's first write. Not before its plans: a call with nothing to
	// remove writes nothing, frees no page, and paid a walk of the whole
	// file for nothing (17x the CPU of a GC every minute that finds
	// nothing to do; bench/RESULTS.md, helper-189).
	walked bool
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
	if !b.walked {
		if err := b.s.checkPagesFirst(ctx, "retention"); err != nil {
			return err
		}
		b.walked = true
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
			err := r.Buckets(threadsRoot, after, func(name []byte) error {
				names = append(names, string(name))
				return keepScanning(len(names) < page)
			})
			if n := len(names); err == nil && n == page && !r.Exists(threadBucket(names[n-1])) {
				// The next page goes on from this name: one its lookup
				// does not find is out of order in a damaged page, and
				// the walk would pass over every thread after it
				// (Export's walk, which went on this way, wrote a dump
				// without them).
				return fmt.Errorf("%w: thread %q: its name is out of place in the list of threads (a damaged page)", ErrCorrupt, names[n-1])
			}
			return err
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
	// dropped counts the checkpoints the job's steps deleted (a
	// transaction the commit loop retried may count some twice): zero
	// says it found none of drop to delete.
	dropped int
	// passed lists the checkpoints of drop a step found no record of and
	// passed over as already gone (a transaction the commit loop retried
	// may list some that its run then found and deleted). runJobs checks
	// them against the history order once the job is done: one still
	// named there was hidden from the lookup by a damaged key.
	passed []cpRef
	// txKeys is the budget of a whole retention transaction (runJobs):
	// a step given less shares its transaction with jobs before it, and
	// does not split a checkpoint's writes (dropCheckpoint). Zero: every
	// step's budget is a whole transaction's.
	txKeys int
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
		job.txKeys = s.tune.gcTxKeys
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
	for _, job := range jobs {
		if len(job.passed) == 0 {
			continue
		}
		if err := s.view(ctx, job.checkPassed); err != nil {
			return total, fmt.Errorf("ckpt: retention: %w", err)
		}
	}
	return total, nil
}

// checkPassed walks the job's thread's history order (a walk follows the
// pages, which a damaged key does not misroute, unlike a lookup) for the
// checkpoints a step passed over as already gone. Gone for real (a
// writer deleted it since the plan), a checkpoint has no order entry
// either; one still named there whose record its lookup does not find
// now either was hidden by a damaged key: the job did less than asked,
// and says so. One whose record the lookup finds now was written again
// since the step (CopyThread keeps ids: a DeleteThread and a copy back
// put the same checkpoint back), a sound store's new checkpoint.
func (j *threadJob) checkPassed(r reader) error {
	passed := map[cpRef]bool{}
	for _, ref := range j.passed {
		passed[ref] = true
	}
	cpPath := threadPath(j.thread, bucketCheckpoints)
	n := 0
	err := r.Scan(threadPath(j.thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			return err
		}
		if passed[cpRef{ns, id}] && r.Get(cpPath, checkpointKey(ns, id)) == nil {
			n++
		}
		return nil
	})
	if err == nil && n > 0 {
		err = fmt.Errorf("%w: thread %q: retention cannot find the records of %d checkpoints its history order names (a damaged key hides them)", ErrCorrupt, j.thread, n)
	}
	return err
}

// maintain queues a transaction of retention, Import or Rekey. It is never
// acknowledged before it commits (an Async context or store default becomes
// Sync): the caller needs its outcome to go on (Import's all or nothing,
// Rekey's next batch), and its closure's results are read right after.
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
