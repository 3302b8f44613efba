package engine

// Snapshot reads: readers never block writers; a reader waits at most for
// one merge of the commit loop's of at most bigMerge keys
// (Snapshots.Change), or readerHold before an apply (AwaitNoReader),
// never for a group, an fsync, a prune or an apply's commit.
//
// Why readers see a consistent state, while they hold nothing the commit
// loop or the applier wait for (etcd 3.4's "fully concurrent reads"): the
// commit loop publishes the shared tree after every merge and every prune,
// and the first reader after that loads a frozen copy of it (Snap:
// tidwall/btree's Copy is O(1) and copies on write; Publish says why the
// copy waits for a reader), with gen (the last group merged into
// it) and pruned (every group it let go is <= pruned, and bbolt held those
// before they were let go). A reader begins a bbolt read transaction, then
// loads the published snapshot, then reads the last group that
// transaction holds (applied, written by the applier in the same commit as
// the groups). The pair is consistent when pruned <= applied <= gen:
//   - applied <= gen: bbolt holds no group the tree has not seen, so no
//     tree entry is older than bbolt's value of its key. (A group is
//     merged before the applier gets it, so a snapshot loaded after the
//     transaction began always passes this.)
//   - pruned <= applied: everything let go of the tree is in bbolt, so the
//     tree holds every group after applied up to gen, and its entries
//     (each the latest write of its key up to gen) are at least as new as
//     bbolt's.
// Tree over bbolt is then the state after group gen. A reader that began
// its transaction before an apply committed and loads a tree pruned after
// it fails the check (pruned > applied): it drops both and starts again.
// Loading the tree before beginning the transaction would fail the other
// way (a group merged and applied in between: applied > gen). Readers never
// see a group before its record is durable (in Sync mode), since it is
// merged only then. The root package's overlay_test.go drives readers
// through every interleaving of these steps with applies and prunes.
//
// A read's transaction may also be kept for later reads (pool.go): the
// same rule decides whether it still goes with the snapshot published
// then.
//
// bbolt's own locks: a read transaction holds bbolt's mmap lock shared
// until it ends, and a commit that must grow the map waits for every open
// one. Open maps a generous size from the start (MmapSize) so that this is
// rare. A read transaction also keeps the pages it can see from reuse: a
// page freed after it began is reused once it ends.

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Snap is a published state of the overlay: its tree holds every group up
// to gen that bbolt lacked when it was published; the groups it let go
// are <= pruned and in bbolt. Nothing changes it once published.
type Snap struct {
	tree   *Tree
	gen    uint64
	pruned uint64
}

// Gen is the last group merged into the snapshot's tree.
func (sn *Snap) Gen() uint64 { return sn.gen }

// Pruned bounds the groups the snapshot's tree let go (all in bbolt).
func (sn *Snap) Pruned() uint64 { return sn.pruned }

// View returns the reader of the snapshot sn paired with tx; a nil sn (no
// log) or an empty tree reads bbolt alone.
func (sn *Snap) View(tx *bolt.Tx) Reader {
	if sn == nil || sn.tree.Len() == 0 {
		return NewBoltView(tx)
	}
	return NewView(sn.tree, NewBoltView(tx))
}

// Snapshots publishes the overlay to readers, pairs it with their bbolt
// read transactions and counts them. A nil *Snapshots (no log) begins and
// ends plain bbolt reads.
type Snapshots struct {
	// snap is the last frozen snapshot. While stale, the state the commit
	// loop published last (live, its own tree, not frozen) is newer, and
	// the first reader to load freezes it (load). pubMu guards live and
	// the freeze against the commit loop's changes of the tree (Change).
	// stale is set only under pubMu; read without it, false means snap is
	// the latest published state.
	snap  atomic.Pointer[Snap]
	stale atomic.Bool
	pubMu sync.Mutex
	live  Snap
	// readers counts the open read transactions of snapshots (each
	// counted under the handle's lock shared, before its begin); idle
	// tells the applier that the count fell to zero.
	readers atomic.Int64
	idle    chan struct{}
	mark    Mark // where bbolt records the last group it holds

	// The pool of reads kept open between reads (pool.go). poolMu
	// guards pool, poolBytes, quiet and closed; epoch is bumped (under
	// poolMu) by every Quiesce, and a read that began before the last bump
	// is not pooled again.
	poolMu    sync.Mutex
	pool      []*PooledRead
	poolBytes int  // the pooled reads' bucket caches (cacheBytes)
	quiet     int  // Quiesce calls not yet resumed: nothing is pooled
	closed    bool // Close: nothing is pooled again
	epoch     atomic.Uint64

	// wait and hold are AwaitNoReader's readerWait and readerHold (tests
	// lengthen them, so that its verdict does not hang on how the readers
	// are scheduled).
	wait, hold time.Duration
}

// NewSnapshots returns the snapshots of a store whose bbolt records the
// last group it holds at mark. Publish before the first Begin.
func NewSnapshots(mark Mark) *Snapshots {
	return &Snapshots{idle: make(chan struct{}, 1), mark: mark, wait: readerWait, hold: readerHold}
}

// Publish makes tree as it is now, holding the groups up to gen and none
// <= pruned that bbolt lacks, what new readers see. Only the goroutine
// that changes tree calls it, after each change (Change). locked: Change
// left pubMu held.
//
// The frozen copy readers read is made when the first reader after a
// Publish asks for it (load), not here: a Copy makes every node of the
// tree shared, so that the next change copies each node it writes (a
// kilobyte each, some 4 KB per step with 16 writers), which is wasted
// when no reader comes between two changes (writes alone, or writes far
// more frequent than reads).
func (ss *Snapshots) Publish(tree *Tree, gen, pruned uint64, locked bool) {
	if !locked {
		ss.pubMu.Lock()
	}
	ss.live = Snap{tree: tree, gen: gen, pruned: pruned}
	ss.stale.Store(true)
	ss.pubMu.Unlock()
}

// Change tells ss that the goroutine that publishes is about to change the
// tree it published last, and returns whether pubMu is then held: until
// the next Publish, a reader that needs a new snapshot waits (for a merge
// of the groups one fsync made durable: tens of microseconds). It is held
// only when no reader has taken the last published state yet; when one
// has, the change copies the nodes it writes and nobody waits. long: the
// change may take long (a prune of a whole batch, a merge of more than
// bigMerge keys), so nobody may wait for it: the published state is
// frozen now if no reader did so.
func (ss *Snapshots) Change(long bool) (locked bool) {
	if !ss.stale.Load() {
		return false // snap is current: readers leave the tree alone
	}
	ss.pubMu.Lock()
	if !ss.stale.Load() {
		ss.pubMu.Unlock() // a reader froze it meanwhile
		return false
	}
	if long {
		ss.freezeLocked()
		ss.pubMu.Unlock()
		return false
	}
	return true
}

// freezeLocked publishes a frozen copy of the live state to readers.
// Called with pubMu held: the tree is not being changed meanwhile.
func (ss *Snapshots) freezeLocked() {
	live := ss.live
	live.tree = live.tree.Frozen()
	ss.snap.Store(&live)
	ss.stale.Store(false)
}

// load returns the published snapshot, freezing the live state first if
// it is newer than the last frozen one.
func (ss *Snapshots) load() *Snap {
	if ss.stale.Load() {
		ss.pubMu.Lock()
		if ss.stale.Load() {
			ss.freezeLocked()
		}
		ss.pubMu.Unlock()
	}
	return ss.snap.Load()
}

// Begin begins a read: a bbolt read transaction on *db and the published
// snapshot that goes with it. It holds mu (which guards *db against a
// swap) shared only while bbolt's transaction begins; End ends the read.
// between, if set, runs after each bbolt begin and before the snapshot is
// loaded (tests pause readers there).
func (ss *Snapshots) Begin(mu *sync.RWMutex, db **bolt.DB, between func()) (*bolt.Tx, *Snap, error) {
	tx, snap, _, _, err := ss.begin(mu, db, between)
	return tx, snap, err
}

// begin is Begin, and also returns the last group the transaction holds
// and the pool's epoch when it began (read before the transaction began:
// a Quiesce after that makes the read too old to pool).
func (ss *Snapshots) begin(mu *sync.RWMutex, db **bolt.DB, between func()) (*bolt.Tx, *Snap, uint64, uint64, error) {
	for try := 0; ; try++ {
		mu.RLock()
		var epoch uint64
		if ss != nil {
			ss.readers.Add(1)
			epoch = ss.epoch.Load()
		}
		tx, err := BeginRead(*db)
		mu.RUnlock()
		if err != nil {
			if ss != nil {
				ss.readers.Add(-1)
			}
			return nil, nil, 0, 0, fmt.Errorf("ckpt: begin read: %w", err)
		}
		if ss == nil {
			return tx, nil, 0, 0, nil
		}
		if between != nil {
			between()
		}
		snap := ss.load()
		var a uint64
		// A fault here leaves only this transaction open: end it, or
		// bbolt's Close would wait for it forever.
		if err := Guard("begin read: the applied mark", func() error { a = ss.mark.appliedTx(tx); return nil }); err != nil {
			ss.End(tx)
			return nil, nil, 0, 0, err
		}
		if snap.pruned <= a && a <= snap.gen {
			return tx, snap, a, epoch, nil
		}
		// An apply committed and the tree was pruned between the two
		// steps: this pair would miss the applied groups. Again. (A retry
		// needs a whole apply between two steps of a few microseconds;
		// failing a thousand times in a row means the file is not the one
		// the overlay goes with.)
		ss.End(tx)
		if try == 1000 {
			return nil, nil, 0, 0, fmt.Errorf("%w: the file holds the write-ahead log up to group %d, the overlay groups %d-%d", ErrCorrupt, a, snap.pruned+1, snap.gen)
		}
	}
}

// End ends a read that Begin began.
func (ss *Snapshots) End(tx *bolt.Tx) {
	EndRead(tx)
	if ss != nil && ss.readers.Add(-1) == 0 {
		select {
		case ss.idle <- struct{}{}:
		default:
		}
	}
}

// readerWait bounds how long the background applier waits for a moment
// with no read transaction open before it applies anyway; readerHold how
// long it keeps new reads from beginning at a time meanwhile, and
// readerRetry how long it lets them in between two holds.
const (
	readerWait  = 100 * time.Millisecond
	readerHold  = time.Millisecond
	readerRetry = 10 * time.Millisecond
)

// AwaitNoReader waits, holding mu (the handle's lock) exclusively on entry
// and on return, until no snapshot's read transaction is open or
// readerWait has passed. Readers count themselves while they hold mu
// shared, so a zero seen here holds until mu is released.
//
// It waits holding mu for at most readerHold: new reads wait at their
// begin meanwhile, and the ones open end (a GetTuple takes microseconds).
// Waiting with mu released instead let new reads take the place of the
// ones that ended, so under steady reads from several goroutines the
// count seldom fell to zero, and each apply waited the whole readerWait
// and then began beside open reads anyway. When a hold is not enough (a
// long read: an export, a List of a long history), it lets reads in
// again for up to readerRetry, or until the count falls to zero, and
// holds again, until readerWait: so a new read waits for the applier at
// most readerHold at a time, and at most once in readerRetry.
func (ss *Snapshots) AwaitNoReader(mu *sync.RWMutex) {
	if ss.readers.Load() == 0 {
		return
	}
	deadline := time.Now().Add(ss.wait)
	timer := time.NewTimer(ss.hold)
	defer timer.Stop()
	for {
		// Hold: new reads wait at mu, the open ones end.
		holdEnd := time.Now().Add(ss.hold)
		for ss.readers.Load() > 0 {
			left := min(time.Until(holdEnd), time.Until(deadline))
			if left <= 0 {
				break
			}
			timer.Reset(left)
			select {
			case <-ss.idle: // may be stale: the loop looks again
			case <-timer.C:
			}
		}
		if ss.readers.Load() == 0 {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		// Let reads in, until the count falls to zero or readerRetry.
		mu.Unlock()
		timer.Reset(min(left, readerRetry))
		select {
		case <-ss.idle:
		case <-timer.C:
		}
		mu.Lock()
		if ss.readers.Load() == 0 {
			return
		}
	}
}
