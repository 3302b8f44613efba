package ckpt

// Metrics: counters and gauges an operator reads with Store.Metrics (and
// the OpenTelemetry module in integrations/otel exports). Everything on a
// hot path is one or two atomic adds: no lock, no allocation, no map, so
// the counters cost nothing a benchmark can see (bench/RESULTS.md). The
// engine calls the recording methods below from a few one-line hooks; the
// logic lives here so the engine files stay as they are.

import (
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// Op is a kind of operation counted by Metrics.
type Op int

// The operations Metrics counts. Save counts as OpPut (it is one), Load and
// Latest as OpGet, History and HistoryFrom as OpList; BackupFile counts as
// OpBackup.
const (
	OpPut       Op = iota // Put, PutFull, Save
	OpPutWrites           // PutWrites
	OpGet                 // GetTuple, Load, Latest
	OpList                // List, History, HistoryFrom (one per call, however many it yields)
	OpDelete              // DeleteThread
	OpGC                  // GC (dry runs too) and every background sweep
	OpCompact             // Compact
	OpBackup              // Backup, BackupFile
	numOps
)

var opNames = [numOps]string{"put", "put_writes", "get", "list", "delete", "gc", "compact", "backup"}

// String is the operation's name as metrics name it ("put_writes").
func (o Op) String() string {
	if o >= 0 && o < numOps {
		return opNames[o]
	}
	return "unknown"
}

// Ops lists every operation kind, in order.
func Ops() []Op {
	ops := make([]Op, numOps)
	for i := range ops {
		ops[i] = Op(i)
	}
	return ops
}

// ErrorKind classifies a failed operation by the sentinel its error wraps.
type ErrorKind int

// The error kinds Metrics counts; an error wrapping none of the named
// sentinels is ErrKindOther (invalid configs, cancelled contexts, ...).
const (
	ErrKindConflict      ErrorKind = iota // ErrConflict
	ErrKindNotFound                       // ErrNotFound
	ErrKindFailed                         // ErrFailed
	ErrKindCorrupt                        // ErrCorrupt
	ErrKindVersionReused                  // ErrVersionReused
	ErrKindDiskFull                       // ErrDiskFull
	ErrKindOther                          // anything else
	numErrKinds
)

var errKindNames = [numErrKinds]string{"conflict", "not_found", "failed", "corrupt", "version_reused", "disk_full", "other"}

// String is the kind's name as metrics name it ("not_found").
func (k ErrorKind) String() string {
	if k >= 0 && k < numErrKinds {
		return errKindNames[k]
	}
	return "unknown"
}

// ErrorKinds lists every error kind, in order.
func ErrorKinds() []ErrorKind {
	ks := make([]ErrorKind, numErrKinds)
	for i := range ks {
		ks[i] = ErrorKind(i)
	}
	return ks
}

// ErrorKindOf classifies a non-nil error as Metrics counts it (for
// integrations that label errors the same way).
func ErrorKindOf(err error) ErrorKind { return errorKind(err) }

// errorKind classifies err. ErrFailed comes first: a fail-stop error wraps
// its cause too, and the operator wants to see that the store stopped.
func errorKind(err error) ErrorKind {
	switch {
	case errors.Is(err, ErrFailed):
		return ErrKindFailed
	case errors.Is(err, ErrConflict):
		return ErrKindConflict
	case errors.Is(err, ErrNotFound):
		return ErrKindNotFound
	case errors.Is(err, ErrCorrupt):
		return ErrKindCorrupt
	case errors.Is(err, ErrVersionReused):
		return ErrKindVersionReused
	case errors.Is(err, ErrDiskFull):
		return ErrKindDiskFull
	}
	return ErrKindOther
}

// LatencyBounds are the upper bounds of the latency buckets: bucket i
// counts durations d with LatencyBounds[i-1] < d <= LatencyBounds[i]; the
// last bucket (index len(LatencyBounds)) counts everything slower. Fixed,
// so recording is one comparison loop and one atomic add.
var LatencyBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond, 10 * time.Millisecond,
	25 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond,
	time.Second,
}

// Latency is a distribution of durations over LatencyBounds.
type Latency struct {
	Count   int64
	Sum     time.Duration
	Buckets [len(LatencyBounds) + 1]int64
}

// GroupSizeBounds are the upper bounds of the group size buckets (writes
// per commit group), as LatencyBounds are for latencies.
var GroupSizeBounds = [...]int64{1, 2, 4, 8, 16, 32, 64, 128, 256, 1024}

// Metrics is a snapshot of a store's counters (since Open, never going
// down) and gauges (now). Each field is read atomically on its own: the
// snapshot is not one instant across fields.
type Metrics struct {
	// Ops counts calls by kind (index: Op), failed ones included.
	Ops [numOps]int64
	// Errors counts failed calls by the sentinel their error wraps (index:
	// ErrorKind).
	Errors [numErrKinds]int64

	// LogBytes is the bytes of acknowledged groups' records appended to
	// the write-ahead log.
	LogBytes int64
	// BoltBytes is the bytes bbolt wrote in its commits (the pages it
	// allocated, which are the pages it writes, plus its meta page).
	BoltBytes int64
	// BoltCommits is the number of bbolt write transactions committed (by
	// the applier, or with NoWAL by the commit loop), and BoltCommitLatency
	// their duration (each is two fsyncs and the page writes).
	BoltCommits       int64
	BoltCommitLatency Latency
	// Fsyncs is the number of fsyncs of the write-ahead log, failed ones
	// included, and FsyncLatency their duration.
	Fsyncs       int64
	FsyncLatency Latency

	// Groups is the number of commit groups made durable (one log record
	// or one bbolt commit each), GroupWrites the calls they carried, and
	// GroupSizes their distribution over GroupSizeBounds.
	Groups      int64
	GroupWrites int64
	GroupSizes  [len(GroupSizeBounds) + 1]int64

	// LogPendingBytes is the bytes of log records acknowledged but not yet
	// applied to the file (gauge).
	LogPendingBytes int64
	// ApplierLagGroups is the number of acknowledged groups not yet in the
	// file (gauge), and ApplierLag how long the oldest of them has waited,
	// to within one apply (gauge; 0 when the applier has caught up).
	ApplierLagGroups int64
	ApplierLag       time.Duration
	// LogGroupsReplayed is the number of groups Open replayed from a log a
	// crashed run left.
	LogGroupsReplayed int64

	// GCRuns counts GC runs that removed (not dry runs), background sweeps
	// included, and GCBytesFreed the bytes they freed (GCStats.BytesFreed).
	// A call refused before it began (an invalid policy, a read-only or
	// failed store) is no run; Ops and Errors count it.
	GCRuns       int64
	GCBytesFreed int64
	// CompactRuns counts Compacts that replaced the file (completed ones,
	// and those whose error carries a *ReplacedError), and
	// CompactBytesFreed how much smaller they made the file.
	CompactRuns       int64
	CompactBytesFreed int64
	// Backups counts backups whose copy is whole at its destination:
	// completed ones, and BackupFile's whose error carries a
	// *ReplacedError (the copy is at the path; only its name's
	// durability failed), as CompactRuns counts Compact's.
	Backups int64

	// OpenSnapshots is the number of read snapshots open now (gauge): each
	// keeps the pages it can see from reuse.
	OpenSnapshots int64
	// Failed tells whether the store has fail-stopped (gauge).
	Failed bool
}

// Metrics returns the store's counters and gauges. It is cheap (atomic
// loads) and works on a closed or failed store too.
//
// With Options.DisableMetrics nothing is counted: every field is zero but
// Failed.
func (s *Store) Metrics() Metrics {
	o := &s.obs
	var m Metrics
	if o.off {
		m.Failed = s.eng.Failed() != nil
		return m
	}
	for i := range m.Ops {
		m.Ops[i] = o.ops[i].Load()
	}
	for i := range m.Errors {
		m.Errors[i] = o.errs[i].Load()
	}
	m.LogBytes = o.logBytes.Load()
	m.BoltBytes = o.boltBytes.Load()
	m.BoltCommits = o.boltCommit.count.Load()
	m.BoltCommitLatency = o.boltCommit.snapshot()
	m.FsyncLatency = o.fsync.snapshot()
	m.Fsyncs = m.FsyncLatency.Count
	m.Groups = o.groups.Load()
	m.GroupWrites = o.groupWrites.Load()
	for i := range m.GroupSizes {
		m.GroupSizes[i] = o.groupSizes[i].Load()
	}
	m.LogPendingBytes = o.pendingBytes.Load()
	if lag := int64(o.loggedGen.Load()) - int64(o.appliedGen.Load()); lag > 0 {
		m.ApplierLagGroups = lag
		if since := o.pendingSince.Load(); since > 0 {
			m.ApplierLag = max(time.Duration(time.Now().UnixNano()-since), 0)
		}
	}
	m.LogGroupsReplayed = o.replayed.Load()
	m.GCRuns = o.gcRuns.Load()
	m.GCBytesFreed = o.gcFreed.Load()
	m.CompactRuns = o.compactRuns.Load()
	m.CompactBytesFreed = o.compactFreed.Load()
	m.Backups = o.backups.Load()
	m.OpenSnapshots = o.snapshots.Load()
	m.Failed = s.eng.Failed() != nil
	return m
}

// latency is Latency's recording side.
type latency struct {
	count   atomic.Int64
	sum     atomic.Int64
	buckets [len(LatencyBounds) + 1]atomic.Int64
}

func (l *latency) record(d time.Duration) {
	i := 0
	for i < len(LatencyBounds) && d > LatencyBounds[i] {
		i++
	}
	l.buckets[i].Add(1)
	l.sum.Add(int64(d))
	l.count.Add(1)
}

func (l *latency) snapshot() Latency {
	var v Latency
	for i := range v.Buckets {
		v.Buckets[i] = l.buckets[i].Load()
	}
	v.Sum = time.Duration(l.sum.Load())
	v.Count = l.count.Load()
	return v
}

// observer is the store's metrics and logger (Store.obs). Its zero value
// counts and logs nothing.
type observer struct {
	ops  [numOps]atomic.Int64
	errs [numErrKinds]atomic.Int64

	logBytes, boltBytes       atomic.Int64
	fsync, boltCommit         latency
	groups, groupWrites       atomic.Int64
	groupSizes                [len(GroupSizeBounds) + 1]atomic.Int64
	pendingBytes              atomic.Int64
	loggedGen, appliedGen     atomic.Uint64
	pendingSince              atomic.Int64 // unix nanos when the oldest unapplied group was acknowledged; 0: none
	replayed                  atomic.Int64
	gcRuns, gcFreed           atomic.Int64
	compactRuns, compactFreed atomic.Int64
	backups                   atomic.Int64
	snapshots                 atomic.Int64

	// off: Options.DisableMetrics; every recording method returns first.
	off bool

	logger    *slog.Logger // nil: silent (logging.go)
	slowFsync time.Duration
}

// done counts one call of kind op and, if it failed, its error kind. It
// takes a pointer so that `defer s.obs.done(OpGet, &err)` sees the result.
func (o *observer) done(op Op, err *error) {
	if o.off {
		return
	}
	o.ops[op].Add(1)
	if *err != nil {
		o.errs[errorKind(*err)].Add(1)
	}
}

// countList counts one List (or History) call and wraps its yield so the
// error it ends with is counted too.
func countList[T any](o *observer, yield func(T, error) bool) func(T, error) bool {
	if o.off {
		return yield
	}
	o.ops[OpList].Add(1)
	return func(t T, err error) bool {
		if err != nil {
			o.errs[errorKind(err)].Add(1)
		}
		return yield(t, err)
	}
}

// snapshotOpened counts an open read snapshot; snapshotClosed ends it.
// (Two calls, not a returned func: a method value escapes, an allocation
// on every read.)
func (o *observer) snapshotOpened() {
	if !o.off {
		o.snapshots.Add(1)
	}
}

func (o *observer) snapshotClosed() {
	if !o.off {
		o.snapshots.Add(-1)
	}
}

// group records a commit group made durable: writes calls, logBytes of log
// record (0 with NoWAL), and gen its group number (0 with NoWAL).
func (o *observer) group(writes int, logBytes int, gen uint64) {
	if o.off {
		return
	}
	o.groups.Add(1)
	o.groupWrites.Add(int64(writes))
	i := 0
	for i < len(GroupSizeBounds) && int64(writes) > GroupSizeBounds[i] {
		i++
	}
	o.groupSizes[i].Add(1)
	if gen == 0 {
		return
	}
	o.logBytes.Add(int64(logBytes))
	o.pendingBytes.Add(int64(logBytes))
	o.loggedGen.Store(gen)
	if o.pendingSince.Load() == 0 { // the clock only for the first unapplied group
		o.pendingSince.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// applied records that the applier moved groups into the file.
func (o *observer) applied(groups []*engine.Group) {
	if o.off {
		return
	}
	var n int64
	for _, g := range groups {
		n += int64(g.Size)
	}
	o.pendingBytes.Add(-n)
	last := groups[len(groups)-1].Gen
	o.appliedGen.Store(last)
	// Cleared first, then set again if groups were acknowledged meanwhile
	// (their hook's CAS may have lost against the old value): the lag is
	// then measured from now, at most one apply late.
	o.pendingSince.Store(0)
	if o.loggedGen.Load() > last {
		o.pendingSince.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// opened records what Open found: groups replayed from the log (and logs
// the open).
func (s *Store) opened(replayed int) {
	if !s.obs.off {
		s.obs.replayed.Add(int64(replayed))
	}
	if s.eng.Logging() && !s.obs.off {
		// Group numbers go on from the file's; a group logged or applied
		// since (by upgradeFormat) already set its own.
		a := s.eng.Applied()
		s.obs.appliedGen.CompareAndSwap(0, a)
		s.obs.loggedGen.CompareAndSwap(0, a)
	}
	s.logOpen(replayed)
}

// engineObserver is the store as the engine's Observer
// (internal/engine/engine.go): its metrics and its logger. (A type of its
// own, so that the Observer's exported methods are not the Store's.)
type engineObserver Store

func (e *engineObserver) Group(ops, logBytes int, gen uint64) { e.obs.group(ops, logBytes, gen) }
func (e *engineObserver) Applied(groups []*engine.Group)      { e.obs.applied(groups) }
func (e *engineObserver) SnapshotOpened()                     { e.obs.snapshotOpened() }
func (e *engineObserver) SnapshotClosed()                     { e.obs.snapshotClosed() }
func (e *engineObserver) Failed(src engine.FailSource, cause error) {
	(*Store)(e).logFailStop(src, cause)
}
func (e *engineObserver) ApplyRetry(cause error, after time.Duration) {
	(*Store)(e).logApplyRetry(cause, after)
}
func (e *engineObserver) SyncLog(f *os.File, sync func(*os.File) error) error {
	return (*Store)(e).syncLogTimed(f, sync)
}
func (e *engineObserver) CommitBolt(tx *bolt.Tx, commit func(*bolt.Tx) error) error {
	return (*Store)(e).commitBoltTimed(tx, commit)
}

// syncLogTimed is the log's fsync (the syncer's, or a growth's in the
// commit loop), timed: it feeds FsyncLatency and logs an fsync slower
// than Options.SlowFsync.
func (s *Store) syncLogTimed(f *os.File, sync func(*os.File) error) error {
	if s.obs.off && !s.logsSlow() {
		return sync(f)
	}
	start := time.Now()
	err := sync(f)
	d := time.Since(start)
	if !s.obs.off {
		s.obs.fsync.record(d)
	}
	if s.obs.slowFsync > 0 && d > s.obs.slowFsync {
		s.logSlowFsync("write-ahead log", d, err)
	}
	return err
}

// commitBoltTimed is the engine's bbolt commit, timed and counted: BoltCommits,
// BoltCommitLatency, BoltBytes, and a slow commit (its fsyncs) is logged
// like a slow fsync.
func (s *Store) commitBoltTimed(tx *bolt.Tx, commit func(*bolt.Tx) error) error {
	if s.obs.off && !s.logsSlow() {
		return commit(tx)
	}
	pageSize := int64(tx.DB().Info().PageSize)
	start := time.Now()
	err := commit(tx)
	d := time.Since(start)
	if err != nil {
		return err
	}
	if s.obs.off {
		if d > s.obs.slowFsync {
			s.logSlowFsync("file (bbolt commit)", d, nil)
		}
		return nil
	}
	s.obs.boltCommit.record(d)
	// After Commit the transaction's stats hold what it allocated: the
	// pages it wrote (data, branches, freelist); the meta page comes on top.
	st := tx.Stats()
	s.obs.boltBytes.Add(st.GetPageAlloc() + pageSize)
	if s.obs.slowFsync > 0 && d > s.obs.slowFsync {
		s.logSlowFsync("file (bbolt commit)", d, nil)
	}
	return nil
}

// logsSlow reports whether slow fsyncs are logged (so they must be timed
// even with the metrics off).
func (s *Store) logsSlow() bool { return s.obs.logger != nil && s.obs.slowFsync > 0 }

// gcDone counts a GC call; a real run (not a dry run) that began (past
// the refusals: an invalid policy, a read-only or failed store) counts as
// a run, with its bytes freed; each is logged.
// Use it as `defer s.gcDone(&p, &st, &err, &began)()`: the call starts the clock.
func (s *Store) gcDone(p *Policy, st *GCStats, err *error, began *bool) func() {
	start := time.Now()
	return func() {
		s.obs.done(OpGC, err)
		if p.DryRun {
			return
		}
		if *began && !s.obs.off {
			s.obs.gcRuns.Add(1)
			s.obs.gcFreed.Add(st.BytesFreed)
		}
		s.logGC(*st, time.Since(start), *err)
	}
}

// compactDone counts a Compact call, and one that replaced the file as a
// run: a completed one, or one whose error carries a *ReplacedError (the
// compacted file is at the path, the file smaller by what st says, even
// though an fsync, the mark's clear or the old handle's close failed
// after the rename).
func (s *Store) compactDone(st *CompactStats, err *error) func() {
	start := time.Now()
	return func() {
		s.obs.done(OpCompact, err)
		_, replaced := errors.AsType[*ReplacedError](*err)
		if (*err == nil || replaced) && !s.obs.off {
			s.obs.compactRuns.Add(1)
			s.obs.compactFreed.Add(st.BytesBefore - st.BytesAfter)
		}
		s.logCompact(*st, time.Since(start), *err)
	}
}

// backupDone counts a backup call, and one whose copy is whole at its
// destination as a backup: a completed one, or a BackupFile whose error
// carries a *ReplacedError (the copy is at the path, even though the
// directory's fsync after the rename failed), as compactDone counts a
// Compact.
func (s *Store) backupDone(err *error) func() {
	start := time.Now()
	return func() {
		s.obs.done(OpBackup, err)
		_, placed := errors.AsType[*ReplacedError](*err)
		if (*err == nil || placed) && !s.obs.off {
			s.obs.backups.Add(1)
		}
		s.logBackup(time.Since(start), *err)
	}
}
