// Package ckpt is a durable, embedded, single-file checkpoint store for
// agent and graph workflows: LangGraph's checkpointer model (threads,
// checkpoints, metadata, pending writes) on one bbolt file.
//
// A Store is safe for concurrent use by many goroutines. One process holds
// the file; a second Open of the same file waits at most
// Options.LockTimeout and then fails with ErrLocked.
package ckpt

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/saverkit"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// LockTimeout is how long Open waits for a file held by another handle
	// or process before it fails with ErrLocked. Zero means 1 second.
	LockTimeout time.Duration
	// ReadOnly opens the file for reading only (shared lock): every write
	// fails with ErrReadOnly. The file must exist.
	ReadOnly bool
	// Durability is the default for every write: Sync (the zero value),
	// Async or NoSync. A call can override it with WithWriteOptions.
	Durability Durability
	// MaxPending bounds the queue of writes waiting for the commit loop
	// (and so the memory Async writes can hold). Zero means 1024.
	MaxPending int
	// OnAsyncError, if set, is called (from the commit loop; keep it short)
	// with every failed Async write. The same errors are also returned by
	// the next Flush or Close.
	OnAsyncError func(error)
	// DeltaFold is K for list channels stored as append-deltas: every K
	// deltas are folded into one segment, so reading a list touches at most
	// K deltas after its folded segments. Zero means 32 (BenchmarkDeltaFold,
	// see bench/RESULTS.md). Negative turns append-deltas off: every value
	// is stored whole (for comparison; files stay readable either way).
	DeltaFold int
	// NoWAL turns the write-ahead log off: every group of writes is then
	// committed to bbolt itself (two fsyncs, every touched page written)
	// before it is acknowledged. With the log (the default), a group is
	// acknowledged once appended to path+"-wal" and fsync'd, and a
	// background applier moves it into bbolt in larger batches; a clean
	// Close leaves the one file. See internal/engine/wal.go.
	NoWAL bool
	// Bolt passes bbolt's own options through, for tuning a large file
	// (PageSize of a new file, NoFreelistSync, MmapFlags, Mlock, ...); nil
	// is right for most apps. Timeout and ReadOnly are taken from
	// LockTimeout and ReadOnly; an empty FreelistType or zero
	// InitialMmapSize gets the store's default. A field that skips an fsync
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
	// if any. It must not call Close, which waits for the sweeper.
	OnSweep func(GCStats, error)
	// Logger, if set, gets one record per notable event: an open (with the
	// groups replayed from a crashed run's log), a fail-stop with its
	// cause, each GC run and compaction with what it freed, each backup,
	// and an fsync slower than SlowFsync. Nil: silent. See README "Metrics
	// and logs".
	Logger *slog.Logger
	// SlowFsync is the duration above which an fsync of the log (or a bbolt
	// commit, whose fsyncs it waits for) is logged as slow. Zero means 100
	// ms; negative never logs.
	SlowFsync time.Duration
	// DisableMetrics turns Store.Metrics' counters off: the hooks record
	// nothing and Metrics returns zeros (Failed still tells a fail-stop).
	// Logger works either way. For measuring what the metrics cost
	// (bench/RESULTS.md, "Metrics cost"); they are cheap enough to leave on.
	DisableMetrics bool
	// Encryption, if set, seals values, list segments and pending writes
	// with AES-256-GCM under the app's keys (crypt.go, README "Encryption").
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
	ids        *idSource

	// mu guards closed: calls hold it shared while they use the engine,
	// Close holds it exclusively.
	mu     sync.RWMutex
	closed bool

	// eng is the engine: bbolt, the write-ahead log, the overlay, the
	// commit loop and the applier (internal/engine).
	eng      *engine.Engine
	boltOpts bolt.Options // to open the compacted file alike
	sweep    *sweeper
	backupMu sync.Mutex // one backup at a time (backup.go)

	obs  observer // metrics and logger (metrics.go, logging.go)
	tune tuning   // limits and test seams (tuning.go)
}

var _ Saver = (*Store)(nil)

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
	}
	if s.durability == DurabilityDefault {
		s.durability = Sync
	}
	newObserver(&s.obs, opts)
	s.eng, err = engine.Open(path, engine.Options{
		Bolt:         *bo,
		LogPath:      path + walSuffix,
		NoWAL:        opts.NoWAL,
		MaxPending:   opts.MaxPending,
		Mark:         appliedMark,
		Init:         s.init,
		OnAsyncError: opts.OnAsyncError,
		Observer:     (*engineObserver)(s),
		Hooks:        s.tune.hooks,
	})
	if err != nil {
		var be *engine.BoltOpenError
		if errors.As(err, &be) {
			return nil, openError(path, be.Err)
		}
		return nil, fmt.Errorf("ckpt: open %s: %w", path, err)
	}
	if err := s.seedIDs(); err != nil {
		s.eng.Abandon(err)
		return nil, fmt.Errorf("ckpt: open %s: %w", path, err)
	}
	if !s.readOnly {
		engine.RemoveCompactLeftover(path)
	}
	if !s.readOnly {
		if err := s.recoverOnOpen(context.Background()); err != nil {
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

func openError(path string, err error) error {
	if errors.Is(err, ErrCorrupt) {
		return err
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("ckpt: open %s: %w", path, err)
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: %s: another process (or another Store in this one) has it open; close it or wait for it to finish", ErrLocked, path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
		// bbolt has no sentinel for a file shorter than its two meta pages.
		strings.Contains(err.Error(), "file size too small"):
		return fmt.Errorf("%w: %s: not a ckpt file (bbolt: %v)", ErrCorrupt, path, err)
	}
	return fmt.Errorf("ckpt: open %s: %w", path, err)
}

// init checks the format marker, writing it into a new file, and seeds the
// id source with the newest stored id.
func (s *Store) init(tx *bolt.Tx) error {
	{
		if meta := tx.Bucket(bucketMeta); meta != nil {
			v := meta.Get(keyFormat)
			if err := checkFormat(v); err != nil {
				return err
			}
			// An older format is upgraded by Open once the log is
			// replayed (upgradeFormat, upgrade.go).
			return nil
		}
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return errStop })
		if !empty || !tx.Writable() {
			return fmt.Errorf("%w: not a ckpt store (no format marker)", ErrCorrupt)
		}
		v := engine.NewBoltView(tx)
		if err := v.Put(bucketPath{bucketMeta}, keyFormat, encodeFormat()); err != nil {
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

// seedIDs makes new ids sort after the newest stored one.
func (s *Store) seedIDs() error {
	return s.view(context.Background(), func(r reader) error {
		return r.Scan(bucketPath{bucketIndex}, nil, nil, true, func(k, _ []byte) error {
			if len(k) >= idLen {
				s.ids.observe([idLen]byte(k[:idLen]))
			}
			return errStop
		})
	})
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close stops the background sweeper (after its current transaction),
// flushes queued writes, stops the commit loop and closes the file.
// It returns the errors of async writes not yet reported by Flush. Calls
// after Close fail with ErrClosed.
func (s *Store) Close() error {
	s.stopSweeper()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	return s.eng.Close()
}

// view runs fn on a snapshot of the store. A bbolt panic on a damaged page
// becomes ErrCorrupt (internal/engine/guard.go).
func (s *Store) view(ctx context.Context, fn func(r reader) error) error {
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
	return s.eng.View(ctx, fn)
}

func validThread(thread string) error { return saverkit.CheckThread(thread) }

func validConfig(cfg Config) error { return saverkit.CheckConfig(cfg.ThreadID, cfg.CheckpointNS) }

// blobWrite is one channel value to store at one version.
type blobWrite struct {
	channel, version string
	value            Raw
	empty            bool
}

// Put stores a checkpoint atomically: its header, metadata, the values of
// the channels named in newVersions (the others are not written again: a
// reader finds them through the versions of earlier checkpoints) and index
// entries, in one transaction. cfg.CheckpointID names the parent, which
// must exist in the thread and namespace (ErrNotFound otherwise: a late
// write cannot bring back a deleted thread); empty starts a new history.
// An empty cp.ID gets a new ULID; a given one must be a valid ULID.
func (s *Store) Put(ctx context.Context, cfg Config, cp Checkpoint, meta Metadata, newVersions map[string]string) (Config, error) {
	return s.PutFull(ctx, cfg, cp, meta, newVersions, nil)
}

// TaskWrites are the pending writes of one task, for PutFull.
type TaskWrites struct {
	TaskID   string
	TaskPath string
	Writes   []Write
}

// PutFull stores a checkpoint together with pending writes attached to it,
// in one transaction (one commit), for graph runners that persist a whole
// step at its end. The result is exactly what Put followed by one PutWrites
// per task would store.
func (s *Store) PutFull(ctx context.Context, cfg Config, cp Checkpoint, meta Metadata, newVersions map[string]string, writes []TaskWrites) (_ Config, err error) {
	defer s.obs.done(OpPut, &err)
	if err := s.refusePlain(); err != nil {
		return Config{}, err
	}
	p, err := s.preparePut(cfg, cp, meta, newVersions)
	if err != nil {
		return Config{}, err
	}
	var ws []preparedWrites
	for _, tw := range writes {
		pw, err := prepareWrites(s.keys, cfg.ThreadID, cfg.CheckpointNS, p.id, tw.Writes, tw.TaskID, tw.TaskPath)
		if err != nil {
			return Config{}, err
		}
		ws = append(ws, pw)
	}
	ifHead := writeOptionsFrom(ctx).IfHead
	err = s.write(ctx, func(w writer) error {
		parentRec, err := p.check(w, ifHead)
		if err != nil {
			return err
		}
		if err := s.putCheckpoint(w, cfg.ThreadID, cfg.CheckpointNS, p.id, p.rec, p.md, p.blobs, p.parent, parentRec); err != nil {
			return err
		}
		for _, pw := range ws {
			if err := pw.apply(w, cfg.ThreadID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Config{}, err
	}
	return Config{ThreadID: cfg.ThreadID, CheckpointNS: cfg.CheckpointNS, CheckpointID: idString(p.id)}, nil
}

// preparedPut is a Put validated and encoded outside the commit loop, so
// the loop only moves bytes.
type preparedPut struct {
	thread, ns string
	id         [idLen]byte
	parent     []byte
	rec, md    []byte
	blobs      []blobWrite
}

func (s *Store) preparePut(cfg Config, cp Checkpoint, meta Metadata, newVersions map[string]string) (*preparedPut, error) {
	if err := validConfig(cfg); err != nil {
		return nil, err
	}
	p := &preparedPut{thread: cfg.ThreadID, ns: cfg.CheckpointNS}
	if cfg.CheckpointID != "" {
		id, err := parseID("parent checkpoint id", cfg.CheckpointID)
		if err != nil {
			return nil, err
		}
		p.parent = id[:]
	}
	now := time.Now()
	if cp.ID == "" {
		p.id = s.ids.next(now)
	} else {
		var err error
		if p.id, err = parseID("checkpoint id", cp.ID); err != nil {
			return nil, err
		}
		s.ids.observe(p.id)
	}
	ts := cp.TS
	if ts.IsZero() {
		ts = now
	}
	p.blobs = make([]blobWrite, 0, len(newVersions))
	for ch, ver := range newVersions {
		if err := validChannel(ch, ver); err != nil {
			return nil, err
		}
		v, ok := cp.ChannelValues[ch]
		if !ok {
			p.blobs = append(p.blobs, blobWrite{channel: ch, version: ver, empty: true})
			continue
		}
		raw, err := encodeValue(fmt.Sprintf("channel %q", ch), v)
		if err != nil {
			return nil, err
		}
		p.blobs = append(p.blobs, blobWrite{channel: ch, version: ver, value: raw})
	}
	var err error
	p.rec, err = encodeCheckpointRecord(&checkpointRecord{
		V: cp.V, TS: ts.UnixNano(), Parent: p.parent,
		Versions: cp.ChannelVersions, VersionsSeen: cp.VersionsSeen,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint versions: %v", ErrEncode, err)
	}
	if p.md, err = encodeMetadata(meta); err != nil {
		return nil, err
	}
	return p, nil
}

// check runs, inside the write transaction, the checks that depend on
// stored data: the parent exists, and (ifHead) it is still the head. It
// returns the parent's stored record (nil without a parent), which
// putCheckpoint reads next: one lookup through the overlay, not two.
func (p *preparedPut) check(r reader, ifHead bool) ([]byte, error) {
	if ifHead {
		if err := checkHead(r, p.thread, p.ns, p.parent); err != nil {
			return nil, err
		}
	}
	if p.parent == nil {
		return nil, nil
	}
	rec := r.Get(threadPath(p.thread, bucketCheckpoints), checkpointKey(p.ns, [idLen]byte(p.parent)))
	if rec == nil {
		return nil, fmt.Errorf("%w: parent checkpoint %s in thread %q namespace %q (deleted or never written)", ErrNotFound, idString([idLen]byte(p.parent)), p.thread, p.ns)
	}
	return rec, nil
}

func validChannel(ch, ver string) error { return saverkit.CheckChannel(ch, ver) }

// headID returns the id of the newest checkpoint of (thread, ns), or nil.
func headID(r reader, thread, ns string) []byte {
	var head []byte
	prefix := nsKey(ns)
	r.Scan(threadPath(thread, bucketCheckpoints), prefix, nil, true, func(k, _ []byte) error {
		head = bytes.Clone(k[len(prefix):])
		return errStop
	})
	return head
}

// checkHead fails with ErrConflict unless parent is the newest checkpoint
// of (thread, ns) (or both are absent).
func checkHead(r reader, thread, ns string, parent []byte) error {
	head := headID(r, thread, ns)
	if bytes.Equal(head, parent) {
		return nil
	}
	name := func(b []byte) string {
		if b == nil {
			return "none"
		}
		return idString([idLen]byte(b))
	}
	return fmt.Errorf("%w: thread %q namespace %q: expected head %s, head is %s", ErrConflict, thread, ns, name(parent), name(head))
}

// putCheckpoint writes one checkpoint. Each channel value is stored
// against the same channel's version in base (the parent), so a list that
// only grew is stored as an append-delta (delta.go). baseRec is base's
// stored record if the caller read it in this op (nil: read here).
func (s *Store) putCheckpoint(w writer, thread, ns string, id [idLen]byte, rec, md []byte, blobs []blobWrite, base, baseRec []byte) error {
	key := checkpointKey(ns, id)
	var baseVersions map[string]string
	if base != nil && len(blobs) > 0 {
		raw := baseRec
		if raw == nil {
			raw = w.Get(threadPath(thread, bucketCheckpoints), checkpointKey(ns, [idLen]byte(base)))
		}
		if raw != nil {
			r, err := decodeCheckpointRecord(raw)
			if err != nil {
				return fmt.Errorf("parent %s: %w", idString([idLen]byte(base)), err)
			}
			baseVersions = r.Versions
		}
	}
	blPath := threadPath(thread, bucketBlobs)
	for _, b := range blobs {
		var baseBlob []byte
		v, ok := baseVersions[b.channel]
		if ok && v != b.version {
			baseBlob = w.Get(blPath, blobKey(ns, b.channel, v))
		}
		if err := storeChannel(w, s.keys, thread, ns, b, v, baseBlob, s.deltaFold); err != nil {
			return err
		}
	}
	puts := []struct {
		p    bucketPath
		k, v []byte
	}{
		{threadPath(thread, bucketCheckpoints), key, rec},
		{threadPath(thread, bucketMetadata), key, md},
		{threadPath(thread, bucketOrder), orderKey(id, ns), nil},
		{bucketPath{bucketIndex}, indexKey(id, thread, ns), nil},
	}
	for _, p := range puts {
		if err := w.Put(p.p, p.k, p.v); err != nil {
			return err
		}
	}
	return nil
}

// PutWrites attaches pending writes of task taskID to the checkpoint in cfg
// (thread and checkpoint id required; the checkpoint must exist, else
// ErrNotFound). Each write is keyed (taskID, idx): idx is its position in
// writes, or a fixed negative index for the special channels (ChannelError
// -1, ChannelScheduled -2, ChannelInterrupt -3, ChannelResume -4). A special
// write replaces a stored one; a regular write whose key is already stored
// is ignored (first wins), so a retried task does not change what it wrote.
func (s *Store) PutWrites(ctx context.Context, cfg Config, writes []Write, taskID, taskPath string) (err error) {
	defer s.obs.done(OpPutWrites, &err)
	if err := s.refusePlain(); err != nil {
		return err
	}
	if err := validConfig(cfg); err != nil {
		return err
	}
	if cfg.CheckpointID == "" {
		return fmt.Errorf("%w: PutWrites needs a checkpoint id", ErrInvalidConfig)
	}
	id, err := parseID("checkpoint id", cfg.CheckpointID)
	if err != nil {
		return err
	}
	pw, err := prepareWrites(s.keys, cfg.ThreadID, cfg.CheckpointNS, id, writes, taskID, taskPath)
	if err != nil || len(pw.recs) == 0 {
		return err
	}
	return s.write(ctx, func(w writer) error {
		if w.Get(threadPath(cfg.ThreadID, bucketCheckpoints), checkpointKey(cfg.CheckpointNS, id)) == nil {
			return fmt.Errorf("%w: checkpoint %s in thread %q namespace %q (deleted or never written)", ErrNotFound, cfg.CheckpointID, cfg.ThreadID, cfg.CheckpointNS)
		}
		return pw.apply(w, cfg.ThreadID)
	})
}

// preparedWrites are one task's pending writes, encoded.
type preparedWrites struct {
	recs []preparedWrite
}

type preparedWrite struct {
	k, v    []byte
	replace bool
}

func prepareWrites(kr *keyring, thread, ns string, id [idLen]byte, writes []Write, taskID, taskPath string) (preparedWrites, error) {
	var pw preparedWrites
	if err := validName("task id", taskID, MaxNameLen); err != nil {
		return pw, err
	}
	pw.recs = make([]preparedWrite, 0, len(writes))
	for i, wr := range writes {
		if err := validName("channel name", wr.Channel, MaxNameLen); err != nil {
			return pw, err
		}
		raw, err := encodeValue(fmt.Sprintf("write %d (channel %q)", i, wr.Channel), wr.Value)
		if err != nil {
			return pw, err
		}
		idx, special := saverkit.WriteIndex(wr.Channel, i)
		key := writeKey(ns, id, taskID, idx)
		rec, err := encodeWriteRecord(kr, thread, key, &writeRecord{Channel: wr.Channel, TaskPath: taskPath, Value: []byte(raw)})
		if err != nil {
			return pw, fmt.Errorf("%w: write %d: %v", ErrEncode, i, err)
		}
		pw.recs = append(pw.recs, preparedWrite{key, rec, special})
	}
	return pw, nil
}

func (pw preparedWrites) apply(w writer, thread string) error {
	path := threadPath(thread, bucketWrites)
	for _, r := range pw.recs {
		if !r.replace && w.Get(path, r.k) != nil {
			continue
		}
		if err := w.Put(path, r.k, r.v); err != nil {
			return err
		}
	}
	return nil
}

// GetTuple returns the checkpoint cfg names, or the newest of the thread
// and namespace when cfg.CheckpointID is empty. The newest is found by one
// seek, whatever the history length. Unknown thread or id: ErrNotFound.
func (s *Store) GetTuple(ctx context.Context, cfg Config) (_ *Tuple, err error) {
	defer s.obs.done(OpGet, &err)
	if err := validConfig(cfg); err != nil {
		return nil, err
	}
	var want *[idLen]byte
	if cfg.CheckpointID != "" {
		id, err := parseID("checkpoint id", cfg.CheckpointID)
		if err != nil {
			return nil, err
		}
		want = &id
	}
	var t *Tuple
	err = s.view(ctx, func(r reader) (err error) {
		t, err = loadTuple(r, s.keys, cfg.ThreadID, cfg.CheckpointNS, want)
		return err
	})
	return t, err
}

// loadWrites reads the pending writes of the checkpoint keyed cpKey, ordered
// by (task path, task id, idx).
func loadWrites(r reader, kr *keyring, thread string, cpKey []byte) ([]PendingWrite, error) {
	var out []PendingWrite
	err := r.Scan(threadPath(thread, bucketWrites), cpKey, nil, false, func(k, v []byte) error {
		task, idx, err := parseWriteKey(cpKey, k)
		if err != nil {
			return err
		}
		rec, err := openWriteRecord(kr, thread, k, v)
		if errors.Is(err, ErrKey) && kr == nil {
			rec, err = decodeWriteRecord(v) // listed, its value locked (crypt.go)
			if err == nil {
				id, _ := envelopeKey(rec.sealed)
				rec.Value = []byte(lockedRaw(id))
			}
		}
		if err != nil {
			return fmt.Errorf("pending write (task %q, idx %d): %w", task, idx, err)
		}
		out = append(out, PendingWrite{TaskID: task, TaskPath: rec.TaskPath, Idx: idx, Channel: rec.Channel, Value: Raw(rec.Value)})
		return nil
	})
	slices.SortStableFunc(out, comparePendingWrites)
	return out, err
}

// comparePendingWrites orders pending writes by (task path, task id, idx).
func comparePendingWrites(a, b PendingWrite) int {
	return cmp.Or(cmp.Compare(a.TaskPath, b.TaskPath), cmp.Compare(a.TaskID, b.TaskID), cmp.Compare(a.Idx, b.Idx))
}

// listPage is how many tuples List reads per read transaction. Between
// pages no transaction is open, so a caller may write while iterating and
// memory stays bounded by one page whatever the history length.
const listPage = 64

// List yields checkpoints newest first by id, filtered by opts. It reads
// page by page; an error ends the sequence after being yielded once.
func (s *Store) List(ctx context.Context, opts ListOptions) iter.Seq2[*Tuple, error] {
	return func(yield func(*Tuple, error) bool) {
		yield = s.obs.countList(yield)
		sel, err := newSelector(opts)
		if err != nil {
			yield(nil, err)
			return
		}
		start := sel.before
		left := opts.Limit
		for {
			want := listPage
			if opts.Limit > 0 {
				want = min(want, left)
			}
			page, next, err := s.listPage(ctx, sel, start, want)
			for _, t := range page {
				if !yield(t, nil) {
					return
				}
			}
			if err != nil {
				yield(nil, err)
				return
			}
			left -= len(page)
			if next == nil || opts.Limit > 0 && left <= 0 {
				return
			}
			start = next
		}
	}
}

// listPage reads up to want matching tuples below start; next is where the
// following page starts, nil at the end.
func (s *Store) listPage(ctx context.Context, sel *selector, start []byte, want int) (page []*Tuple, next []byte, err error) {
	err = s.view(ctx, func(r reader) error {
		page = make([]*Tuple, 0, want)
		tr := newTupleReader(r, s.keys)
		defer tr.release()
		path := bucketPath{bucketIndex}
		if sel.thread != "" {
			path = threadPath(sel.thread, bucketOrder)
		}
		serr := r.Scan(path, nil, start, true, func(k, _ []byte) error {
			var id [idLen]byte
			var err error
			thread, ns := sel.thread, ""
			if sel.thread != "" {
				id, ns, err = parseOrderKey(k)
			} else {
				id, thread, ns, err = parseIndexKey(k)
			}
			if err != nil {
				return err
			}
			if sel.ns != nil && *sel.ns != ns {
				return nil
			}
			tr.setThread(thread)
			var md Metadata
			if len(sel.filter) > 0 {
				md, err = tr.metadata(ns, id)
				if err != nil {
					return fmt.Errorf("checkpoint %s: %w", idString(id), err)
				}
				if !matchMetadata(md, sel.filter) {
					return nil
				}
			}
			t, err := tr.load(ns, &id, md)
			if err != nil {
				return err
			}
			page = append(page, t)
			if len(page) == want {
				next = bytes.Clone(k)
				return errStop
			}
			return ctx.Err()
		})
		if serr == nil {
			serr = ctx.Err()
		}
		return serr
	})
	return page, next, err
}

// DeleteThread removes every checkpoint, pending write, channel value and
// index entry of the thread, in all namespaces, in one transaction. Other
// threads are untouched; deleting an unknown thread is not an error.
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
	return w.DropBucket(bucketPath{bucketThreads, []byte(thread)})
}
