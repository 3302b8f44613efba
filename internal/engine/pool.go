package engine

// Pooled reads (issue 18): a read keeps its bbolt read transaction open
// for the next read, with the bucket handles and cursors its view opened,
// instead of beginning a transaction and walking threads/<thread>/... from
// the root every time (bbolt's read-only Bucket caches nothing: most of a
// GetTuple's allocations and a third of its CPU were those opens).
//
// Why a pooled transaction is still a consistent read (snapshot.go): a
// transaction that holds applied = A and a published snapshot are
// consistent when pruned <= A <= gen. A <= gen holds for any snapshot
// loaded after the transaction began (gen only grows); pruned <= A is
// checked again at each reuse, and a read that fails it is dropped and a
// new one begun. So a pooled read may be older than the latest apply, as
// long as the overlay still holds every group after it.
//
// What a pooled transaction costs the writers, and how it is bounded:
//   - bbolt reuses a page freed by a commit only once every read
//     transaction that began before the commit has ended, and a commit
//     that must grow the map waits for every open read transaction (bbolt's
//     mmaplock). So whoever begins a write transaction on the store's file
//     while the log is on (the applier, Compact's swap) calls Quiesce first:
//     it ends every idle pooled read, and until Resume no read is pooled,
//     so an idle transaction neither keeps the commit's freed pages nor
//     stands in the way of its remap. A read in use then ends when it is
//     released: Quiesce bumps the epoch, and a read that began before the
//     bump is not pooled again.
//   - A pooled read lives at most maxReadAge, and at most maxPooledReads
//     wait idle, their bucket caches at most maxPooledBytes together.
//   - Close ends them all before the file is closed (bbolt's Close waits
//     for every read transaction).
//   - Only with the log: without it (NoWAL) every group is committed to
//     bbolt by the commit loop with no overlay to cover a stale
//     transaction, so reads begin a transaction each, as before.
// A pooled read is used by one reader at a time: Acquire takes it out of
// the pool and Release puts it back.

import (
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// maxPooledReads bounds the idle pooled reads (a few per core is
	// what concurrent readers use).
	maxPooledReads = 8
	// maxReadAge bounds how long a pooled read lives, so that no
	// transaction stays open unboundedly on a store that is only read.
	// While the store is written, the applier's Quiesce ends idle pooled
	// reads at every apply anyway, so the age matters only between
	// writes, where an old transaction pins no page that a commit freed.
	// 2 s, not 250 ms: each new transaction opens its buckets again, and
	// over 2,000 threads (W4) a read then found its buckets only ~80% of
	// the time (R2 at W1's sizes 28 allocations a read, 16 at 2 s; CPU
	// 1.38-1.70x of W1's, 1.06-1.37x at 2 s: bench/RESULTS.md, h19-w4reads).
	maxReadAge = 2 * time.Second
	// maxCachedBytes bounds the heap of the buckets one pooled read keeps
	// open (BoltView.cacheBytes: about 280 bytes a bucket of several
	// pages, up to 1.3 KB an inline one; six buckets a thread), and
	// maxPooledBytes those of every idle pooled read together. One reader
	// keeps about 5,000 large threads' buckets, 1,800 short threads' (W4
	// reads 2,000 threads); past the bound a pooled read forgets the
	// buckets it used longest ago down to half of it (trimming sorts the
	// cache: halving spreads that over many reads). Eight idle pooled reads
	// at the former fixed cap of 1,024 buckets could hold about 11 MB.
	maxCachedBytes = 8 << 20
	maxPooledBytes = 16 << 20
)

// PooledRead is a read transaction kept open between reads, with the
// bucket handles and cursors its view opened and, over a non-empty
// overlay, its overlay view.
type PooledRead struct {
	tx      *bolt.Tx
	bv      *BoltView
	ov      View
	ovSnap  *Snap     // the snapshot ov reads (nil: not set up)
	applied uint64    // the last group tx holds
	epoch   uint64    // the pool's epoch when tx began
	born    time.Time // when tx began
	bytes   int       // its cache's cacheBytes counted in poolBytes while pooled
}

// Reader returns the reader of the read paired with snap (the snapshot
// Acquire returned with it).
func (pr *PooledRead) Reader(snap *Snap) Reader {
	if snap == nil || snap.tree.Len() == 0 {
		return pr.bv
	}
	if pr.ovSnap != snap {
		// The overlay view's bucket states hold for one tree over one
		// transaction: a new snapshot starts them over.
		clear(pr.ov.states)
		pr.ov.reaim(snap.tree, pr.bv, pr.ov.states)
		pr.ovSnap = snap
	}
	return &pr.ov
}

// Tx returns the read's transaction.
func (pr *PooledRead) Tx() *bolt.Tx { return pr.tx }

// Acquire returns a read of *db (see Begin for mu) and the published
// snapshot that goes with it: a pooled read still consistent with the
// snapshot, or a new one. The caller alone uses it until Release.
func (ss *Snapshots) Acquire(mu *sync.RWMutex, db **bolt.DB) (*PooledRead, *Snap, error) {
	if pr := ss.take(); pr != nil {
		snap := ss.load()
		// applied <= gen: the snapshot was loaded after the transaction
		// began. pruned <= applied: the overlay still holds every group
		// the transaction lacks.
		if snap.pruned <= pr.applied && time.Since(pr.born) < maxReadAge {
			return pr, snap, nil
		}
		ss.discard(pr)
	}
	tx, snap, applied, epoch, err := ss.begin(mu, db, nil)
	if err != nil {
		return nil, nil, err
	}
	return &PooledRead{tx: tx, bv: readView(tx), applied: applied, epoch: epoch, born: time.Now()}, snap, nil
}

// Release ends the caller's use of pr: it goes back to the pool, or its
// transaction ends (the pool is full or quiesced, pr began before the last
// Quiesce, or reuse is false: the read panicked and its view's state is
// unknown).
func (ss *Snapshots) Release(pr *PooledRead, reuse bool) {
	if reuse {
		bv := pr.bv
		bv.reads++ // the next read's stamp: trim keeps the buckets used last
		trimmed := false
		ss.poolMu.Lock()
		for !ss.closed && ss.quiet == 0 && pr.epoch == ss.epoch.Load() && len(ss.pool) < maxPooledReads {
			limit := min(maxCachedBytes, maxPooledBytes-ss.poolBytes)
			if b := bv.cacheBytes(); b <= limit {
				pr.bytes = b
				ss.poolBytes += b
				ss.pool = append(ss.pool, pr)
				ss.poolMu.Unlock()
				return
			}
			if trimmed {
				break // the others took the room meanwhile
			}
			// Trimmed outside the lock (it sorts the cache), to half the
			// room: the next reads add buckets without trimming again.
			ss.poolMu.Unlock()
			bv.trim(max(limit, 0) / 2)
			trimmed = true
			ss.poolMu.Lock()
		}
		ss.poolMu.Unlock()
	}
	ss.discard(pr)
}

// take returns the pooled read last released, or nil.
func (ss *Snapshots) take() *PooledRead {
	ss.poolMu.Lock()
	defer ss.poolMu.Unlock()
	n := len(ss.pool)
	if n == 0 {
		return nil
	}
	pr := ss.pool[n-1]
	ss.pool[n-1] = nil
	ss.pool = ss.pool[:n-1]
	ss.poolBytes -= pr.bytes
	pr.bytes = 0
	return pr
}

// discard ends pr's transaction.
func (ss *Snapshots) discard(pr *PooledRead) {
	bv := pr.bv
	*pr = PooledRead{}
	ss.End(bv.tx)
	bv.recycle()
}

// drainLocked ends every idle pooled read; poolMu is held.
func (ss *Snapshots) drainLocked() {
	for i, pr := range ss.pool {
		ss.pool[i] = nil
		ss.discard(pr)
	}
	ss.pool = ss.pool[:0]
	ss.poolBytes = 0
}

// Quiesce ends every idle pooled read, makes every read in use end when
// released, and pools none until Resume: a writer calls it before it
// begins a write transaction on the file and Resumes once that ended.
// Calls nest. A nil *Snapshots (no log) pools nothing.
func (ss *Snapshots) Quiesce() {
	if ss == nil {
		return
	}
	ss.poolMu.Lock()
	ss.quiet++
	ss.epoch.Add(1)
	ss.drainLocked()
	ss.poolMu.Unlock()
}

// Resume ends a Quiesce.
func (ss *Snapshots) Resume() {
	if ss == nil {
		return
	}
	ss.poolMu.Lock()
	ss.quiet--
	ss.poolMu.Unlock()
}

// Close ends every idle pooled read and pools none again (the file is
// about to be closed: bbolt's Close waits for every read transaction).
func (ss *Snapshots) Close() {
	if ss == nil {
		return
	}
	ss.poolMu.Lock()
	ss.closed = true
	ss.epoch.Add(1)
	ss.drainLocked()
	ss.poolMu.Unlock()
}

// Pooled returns the number of idle pooled reads (tests).
func (ss *Snapshots) Pooled() int {
	if ss == nil {
		return 0
	}
	ss.poolMu.Lock()
	defer ss.poolMu.Unlock()
	return len(ss.pool)
}
