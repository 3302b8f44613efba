package ckpt

// The write-ahead log's side of the store. The commit loop applies each
// group of writes to a scratch overlay tree of its own (overlay.go), on top
// of the shared overlay and bbolt, logs the group's changes (wal.go), and
// once the record is durable merges the scratch tree into the shared one,
// which readers see on top of bbolt. The applier, a goroutine of its own,
// replays logged groups into bbolt in large batches; the commit loop then
// prunes from the shared tree what bbolt holds.
//
// Why readers see a consistent state: a reader holds ovMu shared while it
// reads, so no merge and no prune happens meanwhile; the shared tree then
// holds every group up to gen that bbolt lacks, and bbolt holds no group
// after gen (a group is merged before the applier gets it). Every key the
// tree holds is thus at least as new as bbolt's, and the two together are
// the state after group gen. Readers never see a group before its record
// is durable (in Sync mode), since it is merged only then.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

const (
	// The applier waits for applyBytes of logged groups, or for writes to
	// pause for applyIdle, or at most applyMaxDelay, before it applies:
	// one bbolt commit (two fsyncs, every touched page written) then
	// carries many groups, and its fsyncs rarely stand in the way of the
	// log's.
	applyBytes    = 1 << 20
	applyIdle     = 20 * time.Millisecond
	applyMaxDelay = time.Second
	// maxUnapplied bounds the bytes logged but not applied: past it, the
	// commit loop applies everything itself before logging more, so the
	// overlay's memory stays bounded.
	maxUnapplied = 32 << 20
	// maxLog bounds the log file: past it, the commit loop applies
	// everything so the log can start again from its beginning (under a
	// steady stream of writes the applier is never quite done by itself).
	maxLog = 64 << 20
)

// walState is the store's write-ahead-log state. Fields without a comment
// belong to the commit loop.
type walState struct {
	log *walFile // nil when read-only
	// ovMu guards shared and gen against readers: the commit loop holds it
	// exclusively to merge and prune, readers shared while they read.
	ovMu      sync.RWMutex
	shared    *ovTree
	gen       uint64      // last group logged and merged
	groups    []*walGroup // logged and not yet pruned from shared
	unapplied int         // log bytes of groups not yet applied
	ap        *applier

	flights []*flight // logged, waiting to be merged, in order
	// unsynced holds the changes of every group in flight, merged in
	// order: the next group reads through one tree, not one per flight.
	unsynced *ovTree
	written  uint64 // last group written to the log (>= gen)
	durable  uint64 // the log is fsync'd up to this group
	syncing  bool   // the syncer is at work
	syncReq  chan uint64
	syncRes  chan syncResult
}

// applier replays logged groups into bbolt.
type applier struct {
	s       *Store
	applyMu sync.Mutex // one apply at a time
	mu      sync.Mutex // guards pending
	pending []*walGroup
	bytes   int           // log bytes of pending
	last    time.Time     // when a group was last added
	applied atomic.Uint64 // the last group bbolt holds
	wake    chan struct{}
	pruned  chan struct{} // tells the commit loop bbolt holds more
	stop    chan struct{}
	done    chan struct{}
}

func newApplier(s *Store, applied uint64) *applier {
	ap := &applier{s: s, wake: make(chan struct{}, 1), pruned: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	ap.applied.Store(applied)
	return ap
}

func (ap *applier) add(g *walGroup) {
	ap.mu.Lock()
	ap.pending = append(ap.pending, g)
	ap.bytes += g.size
	ap.last = time.Now()
	ap.mu.Unlock()
	select {
	case ap.wake <- struct{}{}:
	default:
	}
}

// run applies in the background until stop.
func (ap *applier) run() {
	defer close(ap.done)
	for {
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
		// A failure leaves the groups pending; the commit loop meets the
		// error when it must apply itself (maxUnapplied, Compact, Close).
		_ = ap.apply()
	}
}

// due tells whether the pending groups should be applied now.
func (ap *applier) due(first time.Time) bool {
	ap.mu.Lock()
	defer ap.mu.Unlock()
	now := time.Now()
	return ap.bytes >= applyBytes || now.Sub(ap.last) >= applyIdle || now.Sub(first) >= applyMaxDelay
}

// apply replays every pending group into bbolt in one transaction.
func (ap *applier) apply() error {
	ap.applyMu.Lock()
	defer ap.applyMu.Unlock()
	ap.mu.Lock()
	groups := ap.pending[:len(ap.pending):len(ap.pending)]
	ap.mu.Unlock()
	if len(groups) == 0 {
		return nil
	}
	last := groups[len(groups)-1].gen
	s := ap.s
	if err := s.failure(); err != nil {
		return err // bbolt may be half-updated after a panic: no more writes
	}
	// Begin while no read transaction is open (every reader and the
	// commit loop hold dbMu shared): bbolt then reuses every page freed
	// so far, instead of growing the file past pages an old reader could
	// still see. (applyMu keeps Compact from swapping db meanwhile.)
	s.dbMu.Lock()
	tx, err := s.beginGuarded()
	s.dbMu.Unlock()
	if err == nil {
		err = s.guardWrite("apply the write-ahead log", tx, func() error {
			if err := replayGroups(&boltView{tx: tx}, groups); err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		})
	}
	if err != nil {
		return fmt.Errorf("ckpt: apply write-ahead log to the store: %w", err)
	}
	ap.mu.Lock()
	ap.pending = ap.pending[len(groups):]
	for _, g := range groups {
		ap.bytes -= g.size
	}
	ap.mu.Unlock()
	ap.applied.Store(last)
	select {
	case ap.pruned <- struct{}{}:
	default:
	}
	return nil
}

// replayGroups applies groups in order and records the last as applied.
func replayGroups(w writer, groups []*walGroup) error {
	for _, g := range groups {
		for i := range g.muts {
			if err := g.muts[i].replay(w); err != nil {
				return fmt.Errorf("group %d: %w", g.gen, err)
			}
		}
	}
	return w.put(bucketPath{bucketMeta}, keyWALApplied, binary.BigEndian.AppendUint64(nil, groups[len(groups)-1].gen))
}

// walApplied reads the last applied group from bbolt.
func walApplied(r reader) uint64 {
	if v := r.get(bucketPath{bucketMeta}, keyWALApplied); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// openWAL replays what a previous run logged and did not apply, then
// starts the log (and the applier) unless read-only or noWAL. Read-only,
// the logged groups are kept in the overlay instead, since bbolt cannot be
// written.
func (s *Store) openWAL(noWAL bool) error {
	path := s.path + walSuffix
	var applied uint64
	if err := s.db.View(func(tx *bolt.Tx) error { applied = walApplied(&boltView{tx: tx}); return nil }); err != nil {
		return err
	}
	logged, err := readLog(path, applied)
	if err != nil {
		return err
	}
	groups := make([]*walGroup, len(logged))
	for i := range logged {
		groups[i] = &logged[i]
	}
	if s.readOnly {
		if len(groups) == 0 {
			return nil
		}
		w := &walState{shared: newOvTree(), gen: groups[len(groups)-1].gen}
		err := s.db.View(func(tx *bolt.Tx) error {
			ow := newOvWriter(w.shared, &boltView{tx: tx}, 0)
			for _, g := range groups {
				ow.gen = g.gen
				for i := range g.muts {
					if err := g.muts[i].replay(ow); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("%w: write-ahead log: %v", ErrCorrupt, err)
		}
		s.wal = w
		return nil
	}
	if len(groups) > 0 {
		if err := s.db.Update(func(tx *bolt.Tx) error { return replayGroups(&boltView{tx: tx}, groups) }); err != nil {
			return fmt.Errorf("ckpt: replay write-ahead log: %w", err)
		}
		applied = groups[len(groups)-1].gen
	}
	if noWAL {
		if err := removeIfExists(path); err != nil {
			return fmt.Errorf("ckpt: remove write-ahead log: %w", err)
		}
		return nil
	}
	log, err := createLog(path)
	if err != nil {
		return err
	}
	w := &walState{log: log, shared: newOvTree(), unsynced: newOvTree(), gen: applied, written: applied, durable: applied,
		syncReq: make(chan uint64, 1), syncRes: make(chan syncResult, 1)}
	w.ap = newApplier(s, applied)
	s.wal = w
	go w.ap.run()
	go w.syncer()
	return nil
}

// logging tells whether writes go through the write-ahead log (not NoWAL,
// not read-only).
func (s *Store) logging() bool { return s.wal != nil && s.wal.ap != nil }

// walView runs fn on the shared overlay over a bbolt read transaction.
func (s *Store) walView(fn func(r reader) error) error {
	w := s.wal
	w.ovMu.RLock()
	defer w.ovMu.RUnlock()
	tx, err := s.db.Begin(false)
	if err != nil {
		return fmt.Errorf("ckpt: begin read: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if w.shared.Len() == 0 {
		return fn(&boltView{tx: tx})
	}
	return fn(&ovView{tree: w.shared, base: &boltView{tx: tx}})
}

// flight is a group whose record is in the log but not merged yet: it
// waits for the fsync that makes the log durable up to want, and for the
// groups before it. Later groups read its changes in walState.unsynced.
type flight struct {
	ops   []*writeOp
	errs  []error
	group *walGroup // nil: nothing to merge (no change, or its record failed)
	tree  *ovTree
	off   int64  // where its record starts in the log
	want  uint64 // the log must be durable up to this group first (0: no wait)
}

// syncResult is what the syncer reports: the log is durable up to gen.
type syncResult struct {
	gen uint64
	err error
}

// syncer fsyncs the log on request, so the commit loop goes on applying
// and logging the next groups while the disk works: many writers then
// share each fsync without waiting for one another.
func (w *walState) syncer() {
	for gen := range w.syncReq {
		w.syncRes <- syncResult{gen, syncLog(w.log.f)}
	}
}

// syncLog is the syncer's fsync; tests replace it (before Open) to make
// it fail.
var syncLog = fdatasync

// requestSync asks the syncer to make every written record durable, unless
// it is already at work or nothing waits for it.
func (w *walState) requestSync() {
	if w.syncing || len(w.flights) == 0 || w.flights[len(w.flights)-1].want <= w.durable {
		return
	}
	w.syncing = true
	w.syncReq <- w.written
}

// commitGroupWAL applies ops to a scratch overlay on top of the groups in
// flight, the shared overlay and bbolt, and writes their changes to the
// log as one record. The group is merged (readers see it) and its callers
// acknowledged once the log is durable up to it (finishFlights); a group
// of NoSync ops only waits for the groups before it.
func (s *Store) commitGroupWAL(ops []*writeOp) {
	w := s.wal
	// ops is the commit loop's reused slice: the flight outlives it.
	ops = slices.Clone(ops)
	f := &flight{ops: ops, errs: make([]error, len(ops)), off: w.log.off}
	fail := func(err error) {
		for i := range f.errs {
			if f.errs[i] == nil {
				f.errs[i] = err
			}
		}
	}
	s.pruneApplied()
	if w.unapplied > maxUnapplied || w.log.off > maxLog {
		if err := s.drainFlights(); err != nil {
			fail(err)
			s.ack(ops, f.errs)
			return
		}
		if err := s.applyAll(); err != nil {
			fail(err)
			s.ack(ops, f.errs)
			return
		}
		f.off = w.log.off
	}
	s.dbMu.RLock()
	tx, err := s.db.Begin(false)
	if err != nil {
		s.dbMu.RUnlock()
		fail(fmt.Errorf("ckpt: begin read: %w", err))
		s.ack(ops, f.errs)
		return
	}
	// The commit loop is the only writer of shared and of the flights'
	// trees: it reads them unlocked.
	var base reader = &ovView{tree: w.shared, base: &boltView{tx: tx}, states: w.shared.states}
	if w.unsynced.Len() > 0 {
		base = &ovView{tree: w.unsynced, base: base, states: w.unsynced.states}
	}
	ow := newOvWriter(newOvTree(), base, w.written+1)
	needSync, barrier := false, false
	for i, op := range ops {
		if op.apply == nil {
			barrier = true
			continue
		}
		if err := op.ctx.Err(); err != nil {
			f.errs[i] = err
			continue
		}
		u, m := ow.mark()
		if err := safeApply(op.apply, ow); err != nil {
			ow.rollback(u, m) // this op alone fails
			f.errs[i] = err
			continue
		}
		if len(ow.muts) > m {
			needSync = needSync || op.dur != NoSync
		}
	}
	_ = tx.Rollback()
	s.dbMu.RUnlock()
	if len(ow.muts) > 0 {
		n, err := w.log.append(ow.gen, ow.muts)
		if err != nil {
			fail(err) // nothing of the group counts: its scratch tree is dropped
		} else {
			w.written = ow.gen
			f.group = &walGroup{gen: ow.gen, muts: ow.muts, size: n}
			f.tree = ow.tree
			mergeOverlay(w.unsynced, ow.tree)
			if needSync {
				f.want = ow.gen
			}
		}
	}
	if barrier {
		f.want = w.written // a Flush: everything logged before it
	}
	w.flights = append(w.flights, f)
	s.finishFlights()
	w.requestSync()
}

// finishFlights merges and acknowledges, in order, the groups in flight
// whose wait is over.
func (s *Store) finishFlights() {
	w := s.wal
	n := 0
	for _, f := range w.flights {
		if f.want > w.durable {
			break
		}
		if g := f.group; g != nil {
			w.ovMu.Lock()
			g.keys = mergeOverlay(w.shared, f.tree)
			w.gen = g.gen
			w.ovMu.Unlock()
			w.groups = append(w.groups, g)
			w.unapplied += g.size
			w.ap.add(g)
			s.commits.Add(1)
		}
		s.ack(f.ops, f.errs)
		n++
	}
	clear(w.flights[:n])
	w.flights = w.flights[n:]
	if len(w.flights) == 0 && w.unsynced.Len() > 0 {
		w.unsynced = newOvTree() // all of it is in shared now
	}
}

// synced takes the syncer's report. A failed fsync fails every group in
// flight (later ones were built on earlier ones), and their records are
// overwritten by the next.
func (s *Store) synced(res syncResult) {
	w := s.wal
	w.syncing = false
	if res.err != nil {
		err := fmt.Errorf("ckpt: write-ahead log: fsync: %w", res.err)
		if len(w.flights) > 0 {
			w.log.off = w.flights[0].off
		}
		w.written = w.gen
		for _, f := range w.flights {
			for i := range f.errs {
				if f.errs[i] == nil {
					f.errs[i] = err
				}
			}
			s.ack(f.ops, f.errs)
		}
		clear(w.flights)
		w.flights = w.flights[:0]
		w.unsynced = newOvTree()
		return
	}
	w.durable = max(w.durable, res.gen)
	s.finishFlights()
	w.requestSync()
}

// drainFlights waits until no group is in flight.
func (s *Store) drainFlights() error {
	w := s.wal
	for len(w.flights) > 0 {
		w.requestSync()
		if !w.syncing {
			return errors.New("ckpt: write-ahead log: groups in flight wait for nothing") // cannot happen
		}
		s.synced(<-w.syncRes)
	}
	return nil
}

// pruneApplied removes from the shared tree what bbolt now holds, and
// rewinds the log when bbolt holds all of it.
func (s *Store) pruneApplied() {
	w := s.wal
	applied := w.ap.applied.Load()
	n := 0
	for _, g := range w.groups {
		if g.gen > applied {
			break
		}
		n++
	}
	if n == 0 {
		return
	}
	w.ovMu.Lock()
	pruneOverlay(w.shared, w.groups[:n], applied)
	w.ovMu.Unlock()
	for _, g := range w.groups[:n] {
		w.unapplied -= g.size
	}
	clear(w.groups[:n])
	w.groups = w.groups[n:]
	if applied == w.gen && len(w.flights) == 0 {
		w.log.rewind() // bbolt holds (and has fsync'd) every record
		w.durable = w.written
	}
}

// pruneOverlay removes from tree the entries groups set that bbolt now
// holds: those not set again by a later group.
func pruneOverlay(tree *ovTree, groups []*walGroup, applied uint64) {
	for _, g := range groups {
		for _, k := range g.keys {
			if it, ok := tree.Get(&ovItem{key: k}); ok && it.gen <= applied {
				tree.remove(k)
			}
		}
	}
}

// ApplyLog moves every write acknowledged before it from the write-ahead
// log into the store file, fsync'd there, as Compact and Close do first.
// Tools that read or copy the file itself (its size, a file-level backup)
// call it first. With NoWAL, or read-only, there is nothing to apply.
func (s *Store) ApplyLog(ctx context.Context) error {
	if !s.logging() {
		return s.Flush(ctx)
	}
	// A solo op drains the groups in flight and applies everything first.
	return s.enqueue(ctx, &writeOp{ctx: ctx, dur: Sync, done: make(chan error, 1), solo: func() error { return nil }})
}

// applyAll applies every logged group now (Compact, Close, a full log).
func (s *Store) applyAll() error {
	if err := s.wal.ap.apply(); err != nil {
		return err
	}
	s.pruneApplied()
	return nil
}

// closeWAL applies everything, stops the applier and removes the log. If
// applying fails, the log stays: the next Open replays it.
func (s *Store) closeWAL() error {
	w := s.wal
	if w == nil || w.log == nil {
		return nil
	}
	close(w.syncReq)
	close(w.ap.stop)
	<-w.ap.done
	if err := s.applyAll(); err != nil {
		return errors.Join(err, fdatasync(w.log.f), w.log.close())
	}
	return w.log.remove()
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
