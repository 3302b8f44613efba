// Package ckpt is a durable, embedded, single-file checkpoint store for
// agent and graph workflows: LangGraph's checkpointer model (threads,
// checkpoints, metadata, pending writes) on one bbolt file.
//
// A Store is safe for concurrent use by many goroutines. One process holds
// the file; a second Open of the same file waits at most
// Options.LockTimeout and then fails with ErrLocked.
package ckpt

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/saverkit"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for a file held by another handle
	// or process before it fails with ErrLocked. Zero or negative: 1 s.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only (shared lock): every write
	// fails with ErrReadOnly. The file must exist.
	ReadOnly bool
	// Durability is the default for every write: Sync (the zero value),
	// Async or NoSync (any other value is ErrInvalidConfig). A call can
	// override it with WithWriteOptions.
	Durability Durability
	// MaxPending bounds the queue of writes waiting for the commit loop
	// (and so the memory Async writes can hold). Zero means 1024; negative
	// is ErrInvalidConfig.
	MaxPending int
	// MaxPendingBytes bounds the bytes of the records (values, metadata,
	// pending writes) that the writes queued for the commit loop, and the
	// group it is committing, hold: past it a writer waits, as for a place
	// in the queue (its ctx ends the wait with ctx.Err(), nothing
	// written). A write larger than the bound waits until nothing else is
	// held and then goes through, alone. Zero means 64 MiB (negative is
	// ErrInvalidConfig); MaxPending writes of 10 MB each would otherwise
	// hold 10 GB.
	MaxPendingBytes int64
	// OnAsyncError, if set, is called with every failed Async write, on a
	// goroutine of its own (never the commit loop: a slow or blocked
	// callback holds up no write), one call at a time, in the order the
	// writes failed. From inside it the store may be called like from
	// anywhere else: a write of any durability, a Flush (which then does
	// not wait for the callback itself), Close. While a call runs, the
	// failures after it wait for their own: the first 64 whole, and past
	// them one error that counts the others and wraps the last of them, so
	// a blocked callback keeps bounded memory. The same errors are also
	// returned by the next Flush or Close (bounded alike, so that a service
	// that never flushes keeps bounded memory too). Flush returns once the
	// callback has heard of the failures it returns. Close waits until the
	// callback has heard of every failure, and no call starts after it
	// returns; a Close from inside the callback returns without waiting
	// for it and ends the calls after this one (Close's error holds the
	// failures no Flush took). So the callback must not wait for a
	// goroutine that is in Flush or Close. A panic in the callback is not
	// recovered: as on any goroutine, it ends the process (there is no
	// caller to return it to, and a store that swallowed it would hide a
	// failure the callback was meant to report).
	OnAsyncError func(error)
	// DeltaFold is K for list channels stored as append-deltas: every K
	// deltas are folded into one segment, and every K segments of one fold
	// level into one of the next, so reading n items touches at most K-1
	// segments a level, about (K-1)·log_K(n). Zero means 8
	// (BenchmarkDeltaFold, see bench/RESULTS.md). Negative turns append-deltas off: every value
	// is stored whole (for comparison; files stay readable either way).
	DeltaFold int
	// NoWAL turns the write-ahead log off: every group of writes is then
	// committed to bbolt itself (two fsyncs, every touched page written)
	// before it is acknowledged, a NoSync group's too (bbolt orders its
	// meta page after the pages it names only by the fsync between them:
	// unsynced, a power cut could keep a meta page naming pages never
	// written, and the file with every write before it would not open).
	// With the log (the default), a group is
	// acknowledged once appended to path+"-wal" and fsync'd, and a
	// background applier moves it into bbolt in larger batches; a clean
	// Close leaves the one file. See internal/engine/wal.go.
	NoWAL bool
	// Bolt passes bbolt's own options through, for tuning a large file
	// (PageSize of a new file, MmapFlags, Mlock, ...); nil is right for
	// most apps. NoFreelistSync is refused (ErrInvalidConfig): without a
	// written free list bbolt rebuilds it by walking every page on a
	// goroutine of its own, where a damaged page ends the process; a file
	// that has none (written by another program) is checked first, and
	// gets one at its first read-write Open. Timeout and ReadOnly are taken from
	// LockTimeout and ReadOnly; an empty FreelistType or zero
	// InitialMmapSize gets the store's default; NoStatistics is ignored
	// (the store checks bbolt's free list after a full disk by its
	// statistics: internal/engine/rollback_freelist.go). A field that skips an fsync
	// (NoSync, NoGrowSync) does what bbolt documents: acknowledged writes
	// can then be lost in a power cut.
	Bolt *bolt.Options
	// SweepInterval, if positive, runs GC with SweepPolicy in the
	// background every SweepInterval (the first run one interval after
	// Open) until Close. Like GC it works in transactions of at most
	// 1,000 keys, so writers are never held up for long. Ignored when
	// ReadOnly.
	SweepInterval time.Duration
	// SweepPolicy is the retention policy of the background sweeper.
	SweepPolicy Policy
	// OnSweep, if set, is called (from the sweeper's goroutine) after each
	// background sweep with what it removed and the error that ended it,
	// if any. Close waits for the sweep and the OnSweep call in progress,
	// and none starts after it; a Close from inside OnSweep returns without
	// waiting for the call it is in, and the sweeper ends after it. A
	// panic in it ends the process, as OnAsyncError's does.
	OnSweep func(GCStats, error)
	// Logger, if set, gets a record per notable event (open, fail-stop,
	// GC, compaction, backup, slow fsync); nil: silent. Its handler runs
	// on the store's own goroutines (the commit loop's, the applier's): it
	// must not write to this store, nor wait for a write to it (a hang).
	Logger *slog.Logger
	// SlowFsync is the duration above which an fsync of the log (or a bbolt
	// commit, whose fsyncs it waits for) is logged as slow. Zero means 100
	// ms; negative never logs.
	SlowFsync time.Duration
	// DisableMetrics turns Store.Metrics' counters off: the hooks record
	// nothing and Metrics returns zeros (Failed still tells a fail-stop).
	// Logger works either way. For measuring what the metrics cost
	// (bench/RESULTS.md, "Metrics on and off"); they are cheap enough to leave on.
	DisableMetrics bool
	// Encryption, if set, seals values, list segments and pending writes
	// with AES-256-GCM under the app's keys (crypt.go, docs/encryption.md).
	Encryption *Encryption

	// tuning, if set (by tests), replaces the store's limits and fault
	// seams (tuning.go); its zero fields keep the defaults.
	tuning *tuning
}

// Store is the bbolt-backed Saver.
type Store struct {
	path       string
	readOnly   bool
	durability Durability
	deltaFold  int
	keys       *keyring // Options.Encryption; nil: nothing sealed
	// sealedKeys: the key ids of the file's sealed records (crypt.go); nil: plain
	sealedKeys atomic.Pointer[[]uint32]
	// importSeals: the key ids of what running imports write, for the
	// Rekeys running beside them (crypt_import.go)
	importSeals importSeals
	ids         *idSource
	// hidden: on a read-only handle, the threads of imports a killed
	// process left unfinished, which reads skip (import_hide.go); nil
	// when none.
	hidden map[string]bool
	// importDamage: on a read-only handle, the damage found in the marks
	// of an unfinished import (import_marks.go), which every read but
	// Verify's returns; nil when none.
	importDamage error
	// untallied: the file keeps no write tallies (write_tally.go): one of
	// format 6 or before, opened read-only. Set by init and, once the
	// upgrade has counted them, by upgradeFormat; fixed once Open returns.
	untallied bool
	// unlisted: the file lists no namespaces in its directory of threads
	// (thread_dir.go): one of format 7 or before, opened read-only (a
	// build of format 7 neither writes nor deletes them, so entries a
	// killed upgrade left are not trusted). Set as untallied is.
	unlisted bool

	// mu guards closed: calls hold it shared while they use the engine,
	// Close holds it exclusively.
	mu     sync.RWMutex
	closed bool
	// fileClosed is closed once the Close that set closed has closed the
	// file: a Close that came while it was closing returns only then.
	fileClosed chan struct{}

	// eng is the engine: bbolt, the write-ahead log, the overlay, the
	// commit loop and the applier (internal/engine).
	eng      *engine.Engine
	boltOpts bolt.Options // to open the compacted file alike
	sweep    *sweeper
	backupMu sync.Mutex // one backup at a time (backup.go)
	// asyncQueued: an Async write was queued once; retention and Export
	// then wait for the queue before they read (seeQueued, writer.go).
	asyncQueued atomic.Bool

	obs  observer // metrics and logger (metrics.go, logging.go)
	tune tuning   // limits and test seams (tuning.go)
}

var _ Saver = (*Store)(nil)

// check refuses the options Open cannot mean: an unknown Durability (it
// would have written as Sync) and negative queue bounds (they would have
// been taken as the defaults). The other negative values are documented
// (DeltaFold: append-deltas off; SlowFsync: never logged; SweepInterval:
// no sweeps).
func (o *Options) check() error {
	if !o.Durability.known() {
		return fmt.Errorf("%w: Options.Durability %d is none of Sync, Async, NoSync", ErrInvalidConfig, int(o.Durability))
	}
	if err := o.checkBolt(); err != nil {
		return err
	}
	if o.MaxPending < 0 || o.MaxPendingBytes < 0 {
		return fmt.Errorf("%w: Options.MaxPending %d, MaxPendingBytes %d: a negative bound (zero means the default)", ErrInvalidConfig, o.MaxPending, o.MaxPendingBytes)
	}
	return nil
}

// checkBolt refuses the bbolt options the store cannot keep its promise
// under (Open and RecoverLog).
func (o *Options) checkBolt() error {
	if o.Bolt != nil && o.Bolt.NoFreelistSync {
		return fmt.Errorf("%w: Options.Bolt.NoFreelistSync: the store writes bbolt's free list at every commit; "+
			"without it bbolt rebuilds the list by walking every page on a goroutine of its own, "+
			"which a damaged page ends the process in", ErrInvalidConfig)
	}
	return nil
}

// Open opens or creates the store file at path.
//
// Open takes the file's lock (waiting at most Options.LockTimeout), then
// checks that the file it locked is still the file at path: Compact in
// another process replaces the file by renaming a new one over it, and a
// process that waited on the old one's lock retries on the new one. Only
// then does it touch anything beside the file (the write-ahead log, a
// compaction's leftover), so no process changes those of a store it has
// not locked. An empty file opened read-write becomes a new store (as a
// missing one does); opened read-only, an empty or too short file is
// refused with ErrCorrupt ("not a ckpt file"). A damaged file gives
// ErrCorrupt, never a panic.
func Open(path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: Open needs the path of the store file, and got an empty one", ErrInvalidConfig)
	}
	path, err := storeFile(path)
	if err != nil {
		return nil, err
	}
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("ckpt: open %s: %w", path, err)
	}
	bo := &bolt.Options{}
	if opts.Bolt != nil {
		*bo = *opts.Bolt
	}
	bo.Timeout = opts.LockTimeout
	if bo.Timeout <= 0 {
		bo.Timeout = time.Second
	}
	bo.ReadOnly = opts.ReadOnly
	if bo.FreelistType == "" {
		bo.FreelistType = bolt.FreelistMapType // O(1) allocation on large files
	}
	if bo.InitialMmapSize == 0 {
		bo.InitialMmapSize = engine.MmapSize(path) // so that a long read rarely stalls a commit (internal/engine/snapshot.go)
	}
	if err := opts.SweepPolicy.validate(); opts.SweepInterval > 0 && err != nil {
		return nil, fmt.Errorf("ckpt: open %s: sweep policy: %w", path, err)
	}
	keys, err := newKeyring(opts.Encryption)
	if err != nil {
		return nil, fmt.Errorf("ckpt: open %s: %w", path, err)
	}
	s := &Store{
		path:       path,
		readOnly:   opts.ReadOnly,
		durability: opts.Durability,
		deltaFold:  cmp.Or(opts.DeltaFold, defaultDeltaFold),
		keys:       keys,
		boltOpts:   *bo,
		ids:        newIDSource(),
		tune:       opts.tuning.withDefaults(),
		fileClosed: make(chan struct{}),
	}
	if s.durability == DurabilityDefault {
		s.durability = Sync
	}
	newObserver(&s.obs, opts)
	s.eng, err = engine.Open(path, engine.Options{
		Bolt:            *bo,
		LogPath:         path + walSuffix,
		NoWAL:           opts.NoWAL,
		MaxPending:      opts.MaxPending,
		MaxPendingBytes: opts.MaxPendingBytes,
		Mark:            appliedMark,
		Init:            s.init,
		OnAsyncError:    opts.OnAsyncError,
		Observer:        (*engineObserver)(s),
		Hooks:           s.tune.hooks,
		// The threads of an import under way (import_hide.go).
		HideUnpublished: s.hideImporting,
		// No bucket the store scans holds buckets (bucket_layout.go).
		ScanValuesOnly: true,
	})
	if err != nil {
		var be *engine.BoltOpenError
		if errors.As(err, &be) {
			return nil, cutShortSaid(path, bo, engine.WriteFull(openError(path, be.Err)))
		}
		return nil, cutShortSaid(path, bo, fmt.Errorf("ckpt: open %s: %w", path, engine.WriteFull(err)))
	}
	if err := s.seedIDs(); err != nil {
		s.eng.Abandon(err)
		return nil, fmt.Errorf("ckpt: open %s: %w", path, err)
	}
	if !s.readOnly {
		engine.RemoveCompactLeftover(path)
	} else if err := s.hideUnfinishedImports(); err != nil {
		s.eng.Abandon(err)
		return nil, fmt.Errorf("ckpt: open %s: %w", path, err)
	}
	if !s.readOnly {
		if err := s.recoverOnOpen(context.Background()); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("ckpt: open %s: %w", path, engine.WriteFull(err))
		}
		if err := s.compactUnsyncedSwap(); err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("ckpt: open %s: %w", path, err)
		}
	}
	if opts.SweepInterval > 0 && !s.readOnly {
		s.startSweeper(opts.SweepInterval, opts.SweepPolicy, opts.OnSweep)
	}
	s.opened(s.eng.Replayed())
	return s, nil
}

// storeFile is the store file that path names: path itself or, when path
// is a symbolic link, the file the links lead to (followed to the end; the
// last may not exist yet: Open creates the store there). The store's log
// and its compaction's new file sit beside the file itself: beside the
// link, a program opening the file by its own name (ckpt verify, show,
// compact, an operator's) would not see the log a killed writer left, and
// Compact's rename would replace the link, leaving the file behind it with
// an older state, each read back with no error. A log beside the link
// (builds before this one kept it there) is refused, not left behind.
func storeFile(path string) (string, error) {
	p, err := followLinks(path)
	if err != nil {
		return "", fmt.Errorf("ckpt: open %s: %w", path, err)
	}
	if p == path {
		return path, nil
	}
	if old, err := os.Stat(path + walSuffix); err == nil && old.Size() > 0 {
		if cur, err := os.Stat(p + walSuffix); err != nil || !os.SameFile(old, cur) {
			return "", fmt.Errorf("%w: open %s: it is a symbolic link to %s, and a write-ahead log lies beside the link (%s, where builds before this one kept it); "+
				"this build keeps the log beside the store file: move it to %s (nothing was changed)", ErrInvalidConfig, path, p, path+walSuffix, p+walSuffix)
		}
	}
	return p, nil
}

// followLinks returns the file path names: path itself or, when path is
// a symbolic link, the file the links lead to (followed to the end; the
// last may not exist yet). Links that lead to no end (a loop, or more
// than the kernel follows) are an error (ELOOP): the path names no file,
// and a copy renamed over the last link reached would replace a link.
func followLinks(path string) (string, error) {
	p := path
	for range 41 { // the kernel follows 40
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return p, nil
		}
		to, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(to) {
			// Relative to the link's directory as the kernel finds it: a
			// lexical join would take ".." in the target from a directory
			// reached through a link back up the link's name, not the
			// real directory's parent, and name another file.
			d, err := filepath.EvalSymlinks(filepath.Dir(p))
			if err != nil {
				return "", err
			}
			to = filepath.Join(d, to)
		}
		p = to
	}
	return "", &os.PathError{Op: "follow links", Path: path, Err: syscall.ELOOP}
}

func openError(path string, err error) error {
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return pathError(path, err)
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s: another process (or another Store in this one) has it open; close it or wait for it to finish", ErrLocked, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
		// bbolt has no sentinel for a file shorter than its two meta pages.
		strings.Contains(err.Error(), "file size too small"):
		return fmt.Errorf("%w: %s: not a ckpt file (bbolt: %v)", ErrCorrupt, path, err)
	}
	return pathError(path, err)
}

// pathError says which file Open failed on: the system's own error
// ("open P: no such file or directory") already names it, and is kept
// whole for errors.Is and errors.As; any other gets the path in front.
func pathError(path string, err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok && pe.Path == path {
		return fmt.Errorf("ckpt: %w", err)
	}
	return fmt.Errorf("ckpt: open %s: %w", path, err)
}

// init checks the format marker, writing it into a new file, and seeds the
// id source with the newest stored id.
func (s *Store) init(tx *bolt.Tx) error {
	{
		if meta := tx.Bucket(bucketMeta); meta != nil {
			v := meta.Get(keyFormat)
			if err := checkFormat(v, meta.Get(keyFormatSum)); err != nil {
				return err
			}
			// Every file holds these from its creation on: one missing is
			// a damaged bucket name, and every read would find the file
			// empty of threads, or stats its index (without an error).
			for _, b := range [][]byte{bucketIndex, bucketThreads} {
				if tx.Bucket(b) == nil {
					return fmt.Errorf("%w: the file has no %q bucket (a damaged bucket name)", ErrCorrupt, b)
				}
			}
			// An older format is upgraded by Open once the log is
			// replayed (upgradeFormat, upgrade.go).
			s.untallied = binary.BigEndian.Uint32(v) < tallyFormat
			s.unlisted = binary.BigEndian.Uint32(v) < nsFormat
			return nil
		}
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return errStop })
		if !empty || !tx.Writable() {
			return fmt.Errorf("%w: not a ckpt store (no format marker)", ErrCorrupt)
		}
		v := engine.NewBoltView(tx)
		if err := putFormat(v); err != nil {
			return err
		}
		if err := v.Put(bucketPath{bucketMeta}, keySealedKeys, newFileSealedKeys(s.keys)); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketIndex, bucketThreads} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	}
}

// Path returns the file the store was opened on (the file itself when
// Open was given a symbolic link to it).
func (s *Store) Path() string { return s.path }

// ReadOnly reports whether the store was opened with Options.ReadOnly: its
// writing calls then fail with ErrReadOnly. A tool that offers writes (the
// history browser) asks it to offer none instead of having each refused.
func (s *Store) ReadOnly() bool { return s.readOnly }

// Close stops the background sweeper (after its current transaction),
// flushes queued writes, stops the commit loop and closes the file. It
// returns the errors of async writes not yet reported by Flush and, on a
// failed store (fail-stop), one wrapping ErrFailed and the cause: closed,
// not cleanly. Calls after Close fail with ErrClosed, a later Close too: one
// that comes while another is still closing the file waits until the file is
// closed (and its lock released: an Open of the path may follow at once),
// then returns ErrClosed; from inside OnAsyncError, whose call the closing
// one waits for, it returns ErrClosed at once.
//
// Close waits for the calls in progress to leave the store: a read for its
// transaction (a GetTuple, one page of a List, one thread of an Export, each
// bounded by the disk, not by the caller: List yields and Export writes with
// none open, so a caller or a consumer that stalls holds nothing, and its
// next step fails with ErrClosed), a write for its group, a GC or Import for
// its current transaction, and a Backup for its whole copy, which is one
// transaction by design (a consistent copy of the file): a Backup to a
// writer that stops reading holds Close, and the calls that come after Close
// began, until its write returns (the Backup's ctx is checked between
// writes, not inside one): give such a writer a deadline, or back up to a
// file (BackupFile), where only the disk paces it.
func (s *Store) Close() error {
	s.stopSweeper()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.awaitFileClosed()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	defer close(s.fileClosed)
	return s.eng.Close()
}

// awaitFileClosed waits until the Close under way (if any) has closed the
// file: the second Close's return then means what the first one's does,
// and a caller that reopens the path finds it free instead of waiting for
// the lock (LockTimeout, then ErrLocked) or, with a lock that does not
// hold, opening a file that is still open. Not from inside OnAsyncError:
// the Close under way waits for that call to return (engine.Close).
func (s *Store) awaitFileClosed() {
	select {
	case <-s.fileClosed:
		return
	default:
	}
	if s.eng.InCallback() {
		return
	}
	if s.tune.closeWaits != nil {
		s.tune.closeWaits()
	}
	<-s.fileClosed
}

// view runs fn on a snapshot of the store. A bbolt panic on a damaged page
// becomes ErrCorrupt (internal/engine/guard.go).
func (s *Store) view(ctx context.Context, fn func(r reader) error) error {
	if s.importDamage != nil {
		return s.importDamage
	}
	return s.viewDamaged(ctx, fn)
}

// viewDamaged is view also on a read-only handle whose unfinished import
// has damaged marks (Verify reports them).
func (s *Store) viewDamaged(ctx context.Context, fn func(r reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	// A snapshot: the read holds no lock the commit loop or the applier
	// wait for (internal/engine/snapshot.go).
	if s.hidden != nil {
		return s.eng.View(ctx, func(r reader) error { return fn(hidingReader{r, s.hidden}) })
	}
	return s.eng.View(ctx, fn)
}

func validThread(thread string) error { return saverkit.CheckThread(thread) }

func validConfig(cfg Config) error { return saverkit.CheckConfig(cfg.ThreadID, cfg.CheckpointNS) }

// DeleteThread removes every checkpoint, pending write, channel value and
// index entry of the thread, in all namespaces, in one transaction. Other
// threads are untouched; deleting an unknown thread is not an error. It
// does not walk the file's pages first, as GC does: a walk per call made
// deleting many threads of a large store slow (maint_check.go).
func (s *Store) DeleteThread(ctx context.Context, threadID string) (err error) {
	defer s.obs.done(OpDelete, &err)
	if err := validThread(threadID); err != nil {
		return err
	}
	return s.write(ctx, func(w writer) error {
		return deleteThread(w, threadID)
	})
}

func deleteThread(w writer, thread string) error {
	var idx [][]byte
	if err := w.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			return err
		}
		idx = append(idx, indexKey(id, thread, ns))
		return nil
	}); err != nil {
		return err
	}
	if _, err := delAll(w, bucketPath{bucketIndex}, idx); err != nil {
		return err
	}
	return dropThread(w, thread)
}
