package engine

// The applier: a goroutine that replays logged groups into bbolt in large
// batches. One bbolt commit (two fsyncs, every touched page written) then
// carries many groups, and its fsyncs rarely stand in the way of the log's.
// The commit loop hands it each group once the group is logged as its
// writers asked (durable in the log; for a NoSync group, written to the
// OS: the applier makes it durable before bbolt takes it, LogDurable) and
// merged into the overlay, and prunes the overlay when it hears that
// bbolt holds more (Pruned).

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// The applier waits for applyBytes of logged groups, or for writes to
	// pause for applyIdle, or at most applyMaxDelay, before it applies.
	applyBytes    = 1 << 20
	applyIdle     = 20 * time.Millisecond
	applyMaxDelay = time.Second
	// After an apply that found no room, the applier tries again after
	// applyRetryMin, doubling up to applyRetryMax: each try writes pages
	// until the disk refuses one, so it is not made at every write.
	applyRetryMin = 50 * time.Millisecond
	applyRetryMax = 2 * time.Second
)

// ApplierConfig is what an applier works with. The store owns all of it.
type ApplierConfig struct {
	FS *FailState
	// DBMu guards *DB against a swap (Compact); the commit loop holds it
	// shared while it builds a group, readers only to begin.
	DBMu *sync.RWMutex
	DB   **bolt.DB
	// File is *DB's file (RevertMeta's after a commit that found no room),
	// swapped with it.
	File **os.File
	// Snaps counts the readers the background applier waits out.
	Snaps *Snapshots
	// Mark is where bbolt records the last group it holds.
	Mark Mark
	// LogDurable, if set, makes the log durable up to gen before bbolt
	// takes the groups up to it: bbolt must never hold a group whose
	// record a power cut can still take from the log (its valid records
	// would end below the mark, which the scan refuses as damage).
	LogDurable func(gen uint64) error
	// Commit commits a write transaction (the store times and counts it;
	// tests inject failures).
	Commit func(*bolt.Tx) error
	// OnApplied, if set, hears of each batch once bbolt holds it.
	OnApplied func(groups []*Group)
	// OnRetry, if set, hears of each background apply that found no room
	// (ErrDiskFull), and when the next try comes.
	OnRetry func(err error, after time.Duration)
}

// Applier replays logged groups into bbolt.
type Applier struct {
	cfg     ApplierConfig
	applyMu sync.Mutex // one apply at a time
	// held: Lock holds applyMu (not an apply under way), which
	// ApplyUnlessHeld must not wait for.
	held    atomic.Bool
	mu      sync.Mutex // guards pending
	pending []*Group
	bytes   int           // log bytes of pending
	last    time.Time     // when a group was last added
	applied atomic.Uint64 // the last group bbolt holds
	wake    chan struct{}
	pruned  chan struct{} // tells the commit loop bbolt holds more
	stop    chan struct{}
	done    chan struct{}
	stopped sync.Once
}

// NewApplier returns an applier of a bbolt that holds the groups up to
// applied. Run starts it.
func NewApplier(cfg ApplierConfig, applied uint64) *Applier {
	ap := &Applier{cfg: cfg, wake: make(chan struct{}, 1), pruned: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	ap.applied.Store(applied)
	return ap
}

// Applied returns the last group bbolt holds.
func (ap *Applier) Applied() uint64 { return ap.applied.Load() }

// Pruned receives after an apply: bbolt holds more, the overlay may let go.
func (ap *Applier) Pruned() <-chan struct{} { return ap.pruned }

// Lock holds the applier off (an apply in progress finishes first), for
// what must see bbolt's file unchanged: Compact's swap, Backup's copy,
// Verify's page check. Unlock lets it go on.
func (ap *Applier) Lock()   { ap.applyMu.Lock(); ap.held.Store(true) }
func (ap *Applier) Unlock() { ap.held.Store(false); ap.applyMu.Unlock() }

// errApplierHeld: ApplyUnlessHeld found the applier held by Lock.
var errApplierHeld = errors.New("ckpt: the applier is held (a backup's copy, a page check)")

// ApplyUnlessHeld is Apply(false), unless Lock holds the applier (a
// Backup's copy, Verify's page check: for as long as they take, and a
// Backup's caller may write meanwhile, from its progress callback or its
// writer): then it returns errApplierHeld at once. An apply under way (the
// background applier's, or Compact's) it waits for: that ends by itself.
// The commit loop calls it where nobody must wait for a holder
// (backByBolt).
func (ap *Applier) ApplyUnlessHeld() error {
	for !ap.applyMu.TryLock() {
		if ap.held.Load() {
			return errApplierHeld
		}
		time.Sleep(20 * time.Microsecond)
	}
	defer ap.applyMu.Unlock()
	return ap.apply(false)
}

// Add hands the applier a logged group (durable in the log, or made so
// by LogDurable before it is applied).
func (ap *Applier) Add(g *Group) {
	ap.mu.Lock()
	ap.pending = append(ap.pending, g)
	ap.bytes += g.Size
	ap.last = time.Now()
	ap.mu.Unlock()
	select {
	case ap.wake <- struct{}{}:
	default:
	}
}

// Run applies in the background until Stop.
func (ap *Applier) Run() {
	defer close(ap.done)
	var backoff time.Duration
	for {
		if backoff > 0 {
			// The last try found no room: the next waits for its time,
			// whatever is added meanwhile (the wake stays for after).
			select {
			case <-time.After(backoff):
			case <-ap.stop:
				return
			}
		} else {
			select {
			case <-ap.wake:
			case <-ap.stop:
				return
			}
			first := time.Now()
			for !ap.due(first) {
				select {
				case <-time.After(applyIdle / 4):
				case <-ap.stop:
					return
				}
			}
		}
		// A failure leaves the groups pending; the commit loop meets the
		// error when it must apply itself (maxUnapplied, Compact, Close).
		// One for want of room is tried again here, later: the store goes
		// on, and once there is room bbolt takes the groups.
		err := ap.Apply(true)
		if !errors.Is(err, ErrDiskFull) {
			backoff = 0
			continue
		}
		backoff = min(max(2*backoff, applyRetryMin), applyRetryMax)
		if ap.cfg.OnRetry != nil {
			ap.cfg.OnRetry(err, backoff)
		}
	}
}

// Stop stops Run and waits for it to return; later calls return at once.
// What is pending stays for Apply.
func (ap *Applier) Stop() {
	ap.stopped.Do(func() { close(ap.stop) })
	<-ap.done
}

// due tells whether the pending groups should be applied now.
func (ap *Applier) due(first time.Time) bool {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	now := time.Now()
	return ap.bytes >= applyBytes || now.Sub(ap.last) >= applyIdle || now.Sub(first) >= applyMaxDelay
}

// Apply replays every pending group into bbolt in one transaction. With
// waitReaders (the background applier, which nobody waits for), it first
// waits up to readerWait for a moment when no read transaction is open.
func (ap *Applier) Apply(waitReaders bool) error {
	ap.applyMu.Lock()
	defer ap.applyMu.Unlock()
	return ap.apply(waitReaders)
}

// apply is Apply with applyMu held.
func (ap *Applier) apply(waitReaders bool) error {
	ap.mu.Lock()
	groups := ap.pending[:len(ap.pending):len(ap.pending)]
	ap.mu.Unlock()
	if len(groups) == 0 {
		return nil
	}
	last := groups[len(groups)-1].Gen
	c := &ap.cfg
	if c.FS.BoltFailed() {
		// bbolt failed a commit: its state on disk past the last good
		// commit is unknown, so nothing more goes into it; the groups stay
		// in the log for the next Open.
		return c.FS.Failed()
	}
	if c.LogDurable != nil {
		if err := c.LogDurable(last); err != nil {
			return err
		}
	}
	// Begin while no read transaction is open, if one comes soon: bbolt
	// then reuses every page freed so far, instead of growing the file.
	// (bbolt keeps the pages the last commit freed while a reader that
	// began after it is open: under steady reads, without this wait, the
	// W1 file grew by a batch, 16.8 to 21.6 MB.) The commit loop holds
	// DBMu shared while it builds a group, so this waits for that; readers
	// hold it only to begin, so they wait for the applier only while
	// AwaitNoReader holds it (at most readerHold at a time), and it for
	// them at most readerWait. (applyMu keeps Compact from swapping the
	// handle meanwhile.)
	// No pooled read stays idle across this transaction (pool.go): it would
	// keep the pages the commit frees from reuse, and a commit that grows
	// the map would wait for it forever.
	c.Snaps.Quiesce()
	defer c.Snaps.Resume()
	c.DBMu.Lock()
	if waitReaders {
		c.Snaps.AwaitNoReader(c.DBMu)
	}
	tx, err := c.FS.BeginWrite(*c.DB)
	var file *os.File
	if c.File != nil {
		file = *c.File
	}
	c.DBMu.Unlock()
	committing, keep := false, uint64(0)
	var db *bolt.DB // the handle tx began on (revertFull)
	if err == nil {
		keep, db = uint64(tx.ID())-1, tx.DB() // the committed transaction tx begins from
		// Read by this transaction's commit (bbolt's grow); the applier is
		// the only writer of the file while the log is on.
		tx.DB().AllocSize = GrowStep(tx.Size())
		err = c.FS.GuardWrite("apply the write-ahead log", tx, func() error {
			if err := c.Mark.Replay(NewBoltView(tx), groups); err != nil {
				_ = tx.Rollback()
				return err
			}
			committing = true
			return c.Commit(tx)
		})
	}
	if err != nil && committing && file != nil && boltCleanFull(err) {
		// No room, rolled back cleanly (diskfull.go), and the meta page is
		// the committed one (revertFull): the groups stay pending and in
		// the log, for a later apply; the store goes on. (Other failures
		// fail the store as before: the log keeps the batch, and the
		// overlay serves it.)
		clean, rerr := revertFull(file, db, tx, keep, err)
		if clean {
			return fmt.Errorf("ckpt: apply write-ahead log to the store: %w", boltFull(err))
		}
		err = errors.Join(err, rerr)
	}
	if err != nil {
		return c.FS.Fail(FailBolt, fmt.Errorf("ckpt: apply write-ahead log to the store: %w", err))
	}
	ap.mu.Lock()
	// The applied groups are the head of pending's backing array (or of
	// the one an Add moved pending to meanwhile: it copied them), which
	// pending, past them, keeps alive until an append outgrows it, and for
	// good once writes stop. Both heads are cleared below, or every
	// applied group (up to applyBytes of mutations) stays reachable.
	// Nobody else touches them: Add appends past pending's start.
	head := ap.pending[:len(groups)]
	ap.pending = ap.pending[len(groups):]
	for _, g := range groups {
		ap.bytes -= g.Size
	}
	ap.mu.Unlock()
	ap.applied.Store(last)
	if c.OnApplied != nil {
		c.OnApplied(groups)
	}
	clear(head)
	clear(groups)
	select {
	case ap.pruned <- struct{}{}:
	default:
	}
	return nil
}
