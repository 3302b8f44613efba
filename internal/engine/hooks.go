package engine

// What the engine tells the root package (Observer: metrics, logging) and
// the seams its tests set (Hooks), apart from the engine's lifecycle in
// engine.go.

import (
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Observer hears what the engine does: the root package's metrics and
// logger implement it. Its methods run on the engine's goroutines (the
// commit loop, the applier, readers): they must be short.
type Observer interface {
	// Group: a group of ops was made durable (logBytes and gen are 0
	// without the log).
	Group(ops, logBytes int, gen uint64)
	// Applied: the applier moved groups into bbolt.
	Applied(groups []*Group)
	// SnapshotOpened and SnapshotClosed bracket each View.
	SnapshotOpened()
	SnapshotClosed()
	// Failed: the store entered the fail-stop state (once).
	Failed(src FailSource, cause error)
	// ApplyRetry: the background applier found no room for a batch
	// (cause wraps ErrDiskFull); the groups stay in the log and it tries
	// again after the given time (each time, until one succeeds).
	ApplyRetry(cause error, after time.Duration)
	// SyncLog runs sync (the log's fsync) and CommitBolt runs commit (a
	// bbolt commit), so that the observer can time them.
	SyncLog(f *os.File, sync func(*os.File) error) error
	CommitBolt(tx *bolt.Tx, commit func(*bolt.Tx) error) error
}

// Hooks are the engine's test seams; zero fields keep the defaults.
type Hooks struct {
	// SyncLog is the write-ahead log's fsync (default Fdatasync): the
	// syncer's, and the commit loop's (a growth, a take-back, a cleared
	// head, Erase), one at a time (Log.fsync).
	SyncLog func(*os.File) error
	// CommitBolt commits a bbolt write transaction of the commit loop or
	// the applier (default (*bolt.Tx).Commit).
	CommitBolt func(*bolt.Tx) error
	// CommitBind commits the binding of a new log that a session's first
	// record or Backup makes (bindFirst; default (*bolt.Tx).Commit): not
	// CommitBolt's, which tests count as the applier's commits, but
	// failures can be put there all the same.
	CommitBind func(*bolt.Tx) error
	// BeforeSend, if set, runs between an op's OnQueue hook and its send
	// (tests widen that window).
	BeforeSend func()
	// CompactStage, if set, is called at each stage of a compaction:
	// "copying" (half the keys copied), "synced", "renamed", "swapped".
	CompactStage func(stage string)
	// SyncDir fsyncs a directory: Compact's after its rename (default
	// SyncDir; tests make it fail).
	SyncDir func(dir string) error
	// HoldApplier keeps the background applier from ever running: logged
	// groups stay in the log (and the overlay) until the commit loop
	// applies them itself (a solo op, MaxUnapplied, Close), so that bbolt's
	// file is what a crash before the applier ran would leave behind.
	HoldApplier bool
	// OpenedBolt, if set, runs in Open right after bbolt's file is opened,
	// before Open reads it (tests cut the file short there).
	OpenedBolt func(db *bolt.DB)
	// MaxRecordBody, if not zero, is the longest log record body (one
	// group's changes) instead of the u32 length field's limit (4 GiB):
	// tests build groups past it without gigabytes of values.
	MaxRecordBody uint64
	// LogGrow, if not zero, is how much the log file grows at a time
	// instead of walGrow (4 MiB): tests cross many growths with little
	// data.
	LogGrow int64
	// MaxLog, if not zero, is the log's bound instead of maxLog (64 MiB):
	// past it the commit loop applies every group itself so the log starts
	// again from its beginning; tests cross it with little data.
	MaxLog int64
	// PendingFull, if set, runs when a Send finds no room for its op's
	// bytes (Options.MaxPendingBytes) and is about to wait, once a Send.
	PendingFull func()
	// CreatedLog, if set, runs in a read-write Open after the new log is
	// created and before the file is bound to it (Mark.Bind, Mark.SetLive);
	// ClosedClean in Close after the commit that clears the live mark and
	// before the log is removed. Tests copy both files there, as a kill
	// at that moment leaves them.
	CreatedLog, ClosedClean func()
	// WalkBytes, if not zero, is the cache size (BoltView.cacheBytes)
	// past which a read's walk forgets, after each callback, the buckets
	// that callback opened, instead of maxWalkBytes (tests set it to 1:
	// every outermost callback forgets).
	WalkBytes int
}
