package ckpt

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/saverkit"
)

// Errors returned by the store. Test for them with errors.Is; the returned
// error wraps one of these and says what was wrong.
var (
	// ErrNotFound: no such thread, checkpoint or channel.
	ErrNotFound = errors.New("ckpt: not found")
	// ErrInvalidConfig: a config or argument is malformed (empty or too long
	// thread id, malformed checkpoint id, ...). Nothing was written. It is
	// saverkit.ErrInvalidConfig, so the shared checks return it.
	ErrInvalidConfig = saverkit.ErrInvalidConfig
	// ErrIDsExhausted: a write that draws a new checkpoint id (Save, or
	// Put and PutFull without cp.ID) found none left: the store holds the
	// largest ULID, 7ZZZZZZZZZZZZZZZZZZZZZZZZZ (a checkpoint put or
	// imported with that id), and every new id must sort after it. The
	// call fails, in every durability (an Async one too, at the call), and
	// nothing was written. It also wraps ErrInvalidConfig.
	ErrIDsExhausted = saverkit.ErrIDsExhausted
	// ErrConflict: a compare-and-set on the thread head failed because
	// another checkpoint became the head first. Nothing was written.
	ErrConflict = errors.New("ckpt: conflict")
	// ErrExists: the destination of a copy already exists.
	ErrExists = errors.New("ckpt: already exists")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("ckpt: store closed")
	// ErrLocked: another handle or process holds the file; returned after
	// Options.LockTimeout instead of waiting for ever.
	ErrLocked = errors.New("ckpt: file is locked by another process or handle")
	// ErrCorrupt: the file or a record in it is damaged or is not a ckpt file.
	ErrCorrupt = engine.ErrCorrupt
	// ErrKey: a sealed record's key is missing or does not open it
	// (*KeyError names the key id; Options.Encryption).
	ErrKey = errors.New("ckpt: encryption key missing or wrong")
	// ErrFormatVersion: the file or a record was written by a format version
	// this build does not read (a record of an unknown version is
	// ErrCorrupt too: its version byte may be damaged).
	ErrFormatVersion = engine.ErrFormatVersion
	// ErrEncode: a value cannot be encoded; the message names the channel
	// (or metadata key) and the path inside the value.
	ErrEncode = errors.New("ckpt: cannot encode value")
	// ErrReadOnly: a write was attempted on a store opened read-only.
	ErrReadOnly = errors.New("ckpt: store is read-only")
	// ErrFailed: an earlier write or fsync of the log or the file failed
	// (other than a write that found no room: ErrDiskFull), so the store
	// stopped taking writes (fail-stop): what is durable can still be read,
	// every later write returns an error wrapping ErrFailed and the first
	// cause. Close and reopen to recover exactly the durable state.
	ErrFailed = engine.ErrFailed
	// ErrDiskFull: a write found no room on the disk (ENOSPC; also a quota,
	// EDQUOT, or the process's file size limit, EFBIG) before anything of
	// it was made durable. That write failed alone: nothing of it is stored,
	// now or after a crash, and the store goes on: once there is room, the
	// same store writes again (no reopen). The error also wraps the
	// system's, so errors.Is(err, syscall.ENOSPC) holds. A failed fsync of
	// the store's own log or file is never ErrDiskFull, whatever its errno:
	// the store then fails (ErrFailed, which still wraps the errno, so
	// errors.Is(err, syscall.ENOSPC) tells a full disk was the cause),
	// since what the disk holds is unknown. One of a file Compact or
	// BackupFile writes for itself, before it is in place, or of Backup's
	// temporary copy (a read-only store's, in os.TempDir), is ErrDiskFull:
	// that file is removed and the store goes on.
	ErrDiskFull = engine.ErrDiskFull
	// ErrVersionReused: a write stored a channel value under a (channel,
	// version) that already names different content in the thread and
	// namespace. A version is a promise about content, so the write is
	// refused and nothing of it is stored. The error is a
	// *VersionConflictError naming the place. It is not ErrConflict: that
	// one means "the head moved, read and retry"; this one is a bug in the
	// caller's versioning that a retry repeats.
	ErrVersionReused = errors.New("ckpt: channel version already holds a different value")
	// ErrDecode: a stored value is sound but cannot be decoded into the Go
	// type asked for (a string into an int, a list into a struct, a
	// non-pointer target). The message names the channel, the stored kind
	// and the target type. The file is fine: this is not ErrCorrupt.
	ErrDecode = errors.New("ckpt: cannot decode value into the target type")
	// ErrNotDurable: Compact or BackupFile put its new file at the path
	// (every read of the path finds it, whole), then the fsync of the
	// directory after the rename failed, so the new name may not survive
	// a power cut: one, even long after, may bring back the file that
	// was there before (or none). The operation returns an error
	// wrapping this and a *ReplacedError (errors.As) that names the
	// path; an operation that failed before its rename does not wrap
	// either: the path is as it was.
	ErrNotDurable = engine.ErrNotDurable
)

// ReplacedError is returned (wrapped) by Compact and BackupFile when they
// failed after their new file was put at Path: the file at Path is the
// new one (the compacted file; the whole, checked copy). Earlier says a
// file was at Path before, which a power cut that undoes the rename would
// bring back (else none would be there). Durable says the directory's
// fsync after the rename succeeded, the name is durable and what failed
// came after it (Compact: the commit that clears the new file's mark, so
// the next read-write Open compacts once more; or the close of the old
// file); errors.Is(err, ErrNotDurable) holds when it is false. Its text
// is Err's. BackupFile's Path is the path the caller gave: to a symbolic
// link, the link (which names the new copy; the rename and the
// directory's fsync were of the file it names, which the text says).
// Compact's is the store's file: for a store opened through a link, the
// file the link names (Store.Path).
type ReplacedError = engine.ReplacedError

// VersionConflictError is returned (wrapped) by a write that would store a
// value under a (channel, version) holding different content. errors.Is
// matches it with ErrVersionReused; errors.As gives the place.
type VersionConflictError struct {
	Thread, NS, Channel, Version string
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("%v: thread %q namespace %q channel %q version %q (a version names one value for ever: give a changed value a new version)",
		ErrVersionReused, e.Thread, e.NS, e.Channel, e.Version)
}

// Is makes errors.Is(err, ErrVersionReused) true.
func (e *VersionConflictError) Is(target error) bool { return target == ErrVersionReused }

// Config addresses a thread, a namespace in it and optionally one
// checkpoint, as LangGraph's configurable {thread_id, checkpoint_ns,
// checkpoint_id} does.
type Config struct {
	// ThreadID names the conversation or session. Required, at most
	// MaxThreadIDLen bytes.
	ThreadID string
	// CheckpointNS is the subgraph namespace; "" is the root graph.
	CheckpointNS string
	// CheckpointID is a ULID string. Empty means "the newest" when reading;
	// in Put and PutWrites it names the parent / target checkpoint.
	CheckpointID string
}

// Checkpoint is one version of a thread's state.
type Checkpoint struct {
	// V is the caller's checkpoint format version (LangGraph uses 4); stored
	// and returned as given.
	V int
	// ID is the checkpoint's ULID. Empty in Put: the store assigns one from
	// a monotonic source.
	ID string
	// TS is the creation time. Zero in Put: the store uses the current time.
	TS time.Time
	// ChannelValues holds the state, one value per channel. In Put, only
	// channels named in newVersions are read (and must encode with
	// msgpack). Read back, each value is a Raw holding the stored bytes.
	ChannelValues map[string]any
	// ChannelVersions gives the version of every channel in this state;
	// reading resolves each channel through it.
	ChannelVersions map[string]string
	// VersionsSeen records, per node, the channel versions it has seen.
	VersionsSeen map[string]map[string]string
}

// Metadata describes a checkpoint (source, step, node, route, reason,
// run_id, ... and anything else). It is stored apart from the state and
// decoded generically: integers come back as int64 (uint64 only above
// MaxInt64), floats as float64, maps as map[string]any. So every map in it
// must have string keys: Put refuses one keyed otherwise (ErrEncode).
type Metadata map[string]any

// Write is one pending write of a task: a value for a channel.
type Write struct {
	Channel string
	Value   any
}

// PendingWrite is a stored pending write.
type PendingWrite struct {
	TaskID   string
	TaskPath string
	Idx      int
	Channel  string
	Value    Raw
}

// Special channels of pending writes ("__error__", "__scheduled__",
// "__interrupt__", "__resume__", as in LangGraph). Each uses a fixed index
// and a new write replaces the stored one; regular writes keep the first
// stored value.
const (
	ChannelError     = saverkit.ChannelError
	ChannelScheduled = saverkit.ChannelScheduled
	ChannelInterrupt = saverkit.ChannelInterrupt
	ChannelResume    = saverkit.ChannelResume
)

// Tuple is one checkpoint as read back: where it is, its state, metadata,
// parent and pending writes.
type Tuple struct {
	Config        Config
	Checkpoint    Checkpoint
	Metadata      Metadata
	ParentConfig  *Config // nil for a thread's first checkpoint
	PendingWrites []PendingWrite
}

// Decode decodes one channel's value into v (a pointer). A channel that is
// not in the checkpoint is ErrNotFound.
func (t *Tuple) Decode(channel string, v any) error {
	raw, ok := t.Checkpoint.ChannelValues[channel].(Raw)
	if !ok {
		return fmt.Errorf("%w: channel %q in checkpoint %s", ErrNotFound, channel, t.Config.CheckpointID)
	}
	if err := raw.Decode(v); err != nil {
		return fmt.Errorf("channel %q: %w", channel, err)
	}
	return nil
}

// ListOptions selects and pages checkpoints for List.
type ListOptions struct {
	// ThreadID restricts the listing to one thread; empty lists all threads.
	ThreadID string
	// Namespace restricts the listing to one namespace; nil lists every
	// namespace. Use NS("") for the root namespace only.
	Namespace *string
	// Before lists only checkpoints whose id is strictly less than this id.
	Before string
	// Limit is the most tuples returned; 0 means no limit.
	Limit int
	// Filter keeps checkpoints whose metadata contains it: every key must be
	// present with a matching value; nested maps match as subsets; numbers
	// compare by value whatever their Go type. Nil or empty keeps all.
	Filter map[string]any
}

// NS returns a pointer to ns, for ListOptions.Namespace.
func NS(ns string) *string { return &ns }

// Saver is the checkpoint saver contract, LangGraph's BaseCheckpointSaver in
// Go. *Store implements it; checkpointtest.Run checks any implementation.
type Saver interface {
	// Put stores a checkpoint, its metadata and the values of the channels
	// named in newVersions, atomically. cfg.CheckpointID is the parent (empty
	// for a thread's first checkpoint). Returns the config of the new
	// checkpoint. A (channel, version) names one value for ever: storing
	// different content under a version the thread and namespace already
	// hold fails with a *VersionConflictError (ErrVersionReused) and
	// writes nothing; the same content is shared.
	Put(ctx context.Context, cfg Config, cp Checkpoint, meta Metadata, newVersions map[string]string) (Config, error)
	// PutWrites attaches pending writes of one task to the checkpoint in cfg.
	PutWrites(ctx context.Context, cfg Config, writes []Write, taskID, taskPath string) error
	// GetTuple returns the checkpoint in cfg, or the newest of the thread
	// and namespace when cfg.CheckpointID is empty.
	GetTuple(ctx context.Context, cfg Config) (*Tuple, error)
	// List yields checkpoints newest first (by id).
	List(ctx context.Context, opts ListOptions) iter.Seq2[*Tuple, error]
	// DeleteThread removes every checkpoint, write and value of a thread.
	DeleteThread(ctx context.Context, threadID string) error
	// CopyThread copies every checkpoint of srcThreadID (all namespaces,
	// with metadata, pending writes and values, keeping ids and order) to
	// dstThreadID; the source is unchanged. A missing source is
	// ErrNotFound; a destination holding checkpoints is ErrExists unless
	// opts.Replace, which deletes it first.
	CopyThread(ctx context.Context, srcThreadID, dstThreadID string, opts CopyOptions) error
	// Prune applies strategy to each listed thread: PruneKeepLatest keeps
	// only the newest checkpoint of each namespace (with its pending
	// writes), PruneDelete removes the threads. Unknown threads and an
	// empty list are no-ops.
	Prune(ctx context.Context, threadIDs []string, strategy PruneStrategy) error
	// DeleteForRuns deletes, in every thread and namespace, the checkpoints
	// (with their pending writes) whose metadata "run_id" is one of runIDs.
	// Other runs are untouched; an empty list is a no-op.
	DeleteForRuns(ctx context.Context, runIDs []string) error
}

// CopyOptions change CopyThread.
type CopyOptions struct {
	// Replace lets CopyThread overwrite a destination thread that already
	// holds checkpoints (its old content is deleted first).
	Replace bool
}

// PruneStrategy says what Prune does to each thread.
type PruneStrategy int

const (
	// PruneKeepLatest keeps only the newest checkpoint of each namespace of
	// the thread, with its metadata, values and pending writes.
	PruneKeepLatest PruneStrategy = iota
	// PruneDelete removes the whole thread.
	PruneDelete
)

func (p PruneStrategy) String() string {
	switch p {
	case PruneKeepLatest:
		return "keep-latest"
	case PruneDelete:
		return "delete"
	}
	return fmt.Sprintf("PruneStrategy(%d)", int(p))
}
