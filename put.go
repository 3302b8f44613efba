package ckpt

// The Saver's writes: Put and PutFull (a checkpoint, its metadata and the
// channel values it names, checked against the thread's head), and
// PutWrites (a task's pending writes).

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ckpt-go/ckpt/saverkit"
)

// blobWrite is one channel value to store at one version.
type blobWrite struct {
	channel, version string
	value            Raw
	empty            bool
	// named: the checkpoint names this version but Put was given no new
	// value for it. It refers to a value stored before; if there is none,
	// putCheckpoint stores "no value" (as empty) under it, so that every
	// version a record names has a record under it and a reader can tell
	// a value that is gone (damage: ErrCorrupt) from one never given.
	named bool
}

// Put stores a checkpoint atomically: its header, metadata, the values of
// the channels named in newVersions (the others are not written again: a
// reader finds them through the versions of earlier checkpoints) and index
// entries, in one transaction. cfg.CheckpointID names the parent, which
// must exist in the thread and namespace (ErrNotFound otherwise: a late
// write cannot bring back a deleted thread); empty starts a new history.
// An empty cp.ID gets a new ULID; a given one must be a valid ULID. A
// given id already stored is put again (its pending writes stay), but not
// under itself or a descendant as parent (ErrInvalidConfig). A channel in
// newVersions must have the same version in cp.ChannelVersions, if that
// names it (ErrInvalidConfig). A value in cp.ChannelValues whose channel
// newVersions does not name is not stored, silently (with nil newVersions,
// none is): a reader resolves that channel through cp.ChannelVersions to
// an earlier checkpoint's value, or finds none. Save works newVersions out
// itself.
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
	size := p.size()
	for _, pw := range ws {
		size += pw.size()
	}
	what := writeName{kind: "put", thread: cfg.ThreadID, ns: cfg.CheckpointNS, id: &p.id, withNamespaces: true}
	err = s.writeOrdered(ctx, size, &what, func(w writer) error {
		parentRec, err := p.check(w, ifHead)
		if err != nil {
			return err
		}
		if err := s.putCheckpoint(w, cfg.ThreadID, cfg.CheckpointNS, p.id, p.given, p.rec, p.md, p.blobs, p.parent, parentRec); err != nil {
			return err
		}
		for _, pw := range ws {
			if err := pw.apply(w, cfg.ThreadID); err != nil {
				return err
			}
		}
		return nil
	}, p.observeGiven(s.ids))
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
	given      bool // id is the caller's (cp.ID), maybe stored already; else new from s.ids
	parent     []byte
	rec, md    []byte
	blobs      []blobWrite
}

// observeGiven is PutFull's onQueue hook: a given id raises the floor of
// new ids as the Put is queued, in queue order, so that every id drawn
// after the call returned (an Async Put returns at once) sorts after it,
// and a Put refused before (ctx ended, closed store, no room) leaves the
// floor as it was. Nil for a new id, drawn already.
func (p *preparedPut) observeGiven(ids *idSource) func() error {
	if !p.given {
		return nil
	}
	return func() error { ids.observe(p.id); return nil }
}

// size is the bytes of records the put holds until committed.
func (p *preparedPut) size() int {
	n := len(p.rec) + len(p.md)
	for _, b := range p.blobs {
		n += len(b.channel) + len(b.version) + len(b.value)
	}
	return n
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
		var err error
		if p.id, err = s.ids.next(now); err != nil {
			return nil, err
		}
	} else {
		var err error
		p.given = true
		if p.id, err = parseID("checkpoint id", cp.ID); err != nil {
			return nil, err
		}
		if p.parent != nil {
			if err := saverkit.CheckParent(idString(p.id), idString([idLen]byte(p.parent))); err != nil {
				return nil, err
			}
		}
		// The floor of new ids is raised to it once the Put is queued
		// (PutFull's onQueue), not here: a Put refused before that stores
		// nothing and must not leave its id as the floor (the largest
		// ULID would leave no id for any later Save,
		// h222_refused_put_floor_test.go).
	}
	ts := cp.TS
	if ts.IsZero() {
		ts = now
	}
	if err := saverkit.CheckTS(ts); err != nil {
		return nil, err
	}
	p.blobs = make([]blobWrite, 0, max(len(newVersions), len(cp.ChannelVersions)))
	for ch, ver := range newVersions {
		if err := validChannel(ch, ver); err != nil {
			return nil, err
		}
		if err := saverkit.CheckVersion(ch, ver, cp.ChannelVersions); err != nil {
			return nil, err
		}
		v, ok := cp.ChannelValues[ch]
		if !ok {
			p.blobs = append(p.blobs, blobWrite{channel: ch, version: ver, empty: true})
			continue
		}
		raw, err := encodeDescribed(func() string { return fmt.Sprintf("channel %q", ch) }, v)
		if err != nil {
			return nil, err
		}
		p.blobs = append(p.blobs, blobWrite{channel: ch, version: ver, value: raw})
	}
	for ch, ver := range cp.ChannelVersions {
		if _, ok := newVersions[ch]; ok {
			continue
		}
		if err := validChannel(ch, ver); err != nil {
			return nil, err
		}
		p.blobs = append(p.blobs, blobWrite{channel: ch, version: ver, named: true})
	}
	key := checkpointKey(p.ns, p.id)
	seed := seedOf(p.thread)
	var err error
	p.rec, err = encodeCheckpointRecord(seed, key, &checkpointRecord{
		V: cp.V, TS: ts.UnixNano(), Parent: p.parent,
		Versions: cp.ChannelVersions, VersionsSeen: cp.VersionsSeen,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint versions: %v", ErrEncode, err)
	}
	if p.md, err = encodeMetadata(seed, key, meta); err != nil {
		return nil, err
	}
	return p, nil
}

// check runs, inside the write transaction, the checks that depend on
// stored data: the parent exists, and (ifHead) it is still the head. It
// returns the parent's stored record (nil without a parent), which
// putCheckpoint reads next: one lookup through the overlay, not two.
func (p *preparedPut) check(r reader, ifHead bool) ([]byte, error) {
	// A parent that does not exist is ErrNotFound before the head is
	// compared, with IfHead too (as on Redis): a deleted thread's late
	// put is not a head that moved on, and ErrConflict would tell the
	// caller to read the head and retry.
	var rec []byte
	if p.parent != nil {
		rec = r.Get(threadPath(p.thread, bucketCheckpoints), checkpointKey(p.ns, [idLen]byte(p.parent)))
	}
	if ifHead && (p.parent == nil || rec != nil) && !p.storedAlready(r) {
		if err := checkHead(r, p.thread, p.ns, p.parent); err != nil {
			return nil, err
		}
	}
	if p.parent == nil {
		return nil, nil
	}
	if rec == nil {
		if p.storedAlready(r) {
			// Sent again after retention removed the parent: the put is
			// stored all the same (putCheckpoint finds its values stored
			// and compares them).
			return nil, nil
		}
		if err := checkpointHidden(r, p.thread, p.ns, [idLen]byte(p.parent), writableLists); err != nil {
			return nil, fmt.Errorf("parent checkpoint: %w", err)
		}
		return nil, fmt.Errorf("%w: parent checkpoint %s in thread %q namespace %q (deleted or never written)", ErrNotFound, idString([idLen]byte(p.parent)), p.thread, p.ns)
	}
	if p.given {
		if err := p.checkNotAncestor(r, rec); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// storedAlready reports whether the checkpoint of a given id is stored
// with the same record and metadata: this very put, sent again by a caller
// that lost its reply. That is success, as for any put sent again (the
// write below stores the same bytes; a value that differs under a stored
// version still fails, ErrVersionReused): not ErrConflict for a
// compare-and-set whose head moved on, not ErrNotFound when its parent
// was deleted since; an error says nothing was written, and the
// checkpoint is there. The redisstore does the same (checkpointtest's
// PutIfHeadSentAgain).
func (p *preparedPut) storedAlready(r reader) bool {
	if !p.given {
		return false
	}
	key := checkpointKey(p.ns, p.id)
	rec := r.Get(threadPath(p.thread, bucketCheckpoints), key)
	return rec != nil && bytes.Equal(rec, p.rec) && bytes.Equal(r.Get(threadPath(p.thread, bucketMetadata), key), p.md)
}

// checkNotAncestor refuses a Put of a stored checkpoint again under a new
// parent that descends from it: the checkpoint would be its own ancestor,
// and History and Branches, which follow parents, would find no start or
// end. Only a given id can be stored already, and only a changed parent
// adds an edge, so the walk up from the parent (whose record is
// parentRec) runs for a put again under another parent alone.
func (p *preparedPut) checkNotAncestor(r reader, parentRec []byte) error {
	bucket := threadPath(p.thread, bucketCheckpoints)
	stored := r.Get(bucket, checkpointKey(p.ns, p.id))
	if stored == nil {
		return nil // a new checkpoint is nobody's parent yet
	}
	seed := seedOf(p.thread)
	own, err := decodeCheckpointRecord(seed, checkpointKey(p.ns, p.id), stored)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", idString(p.id), err)
	}
	if bytes.Equal(own.Parent, p.parent) {
		return nil // the same edge: a retried put
	}
	at, raw := [idLen]byte(p.parent), parentRec
	seen := map[[idLen]byte]bool{} // a file written before this check may hold a cycle
	for raw != nil && !seen[at] {
		seen[at] = true
		rec, err := decodeCheckpointRecord(seed, checkpointKey(p.ns, at), raw)
		if err != nil {
			return fmt.Errorf("ancestor %s: %w", idString(at), err)
		}
		if len(rec.Parent) != idLen {
			return nil // reached the first checkpoint
		}
		at = [idLen]byte(rec.Parent)
		if at == p.id {
			return fmt.Errorf("%w: thread %q namespace %q: checkpoint %s put again under %s, which descends from it (a checkpoint cannot be its own ancestor)",
				ErrInvalidConfig, p.thread, p.ns, idString(p.id), idString([idLen]byte(p.parent)))
		}
		raw = r.Get(bucket, checkpointKey(p.ns, at)) // nil: removed by retention
	}
	return nil
}

func validChannel(ch, ver string) error { return saverkit.CheckChannel(ch, ver) }

// headID returns the id of the newest checkpoint of (thread, ns), or nil.
// A walk that passed over a key out of order is ErrCorrupt naming thread
// and namespace: the key passed over may be the newest, and a Save would
// take an older one (or none) for its parent, GC the newest for an old one.
// So is a key of the wrong length (a damaged key size), which callers
// would otherwise turn into an id array (a panic).
func headID(r reader, thread, ns string) ([]byte, error) {
	var head []byte
	prefix := nsKey(ns)
	if err := r.Scan(threadPath(thread, bucketCheckpoints), prefix, nil, true, func(k, _ []byte) error {
		if len(k) != len(prefix)+idLen {
			return fmt.Errorf("%w: checkpoint key has %d id bytes", ErrCorrupt, len(k)-len(prefix))
		}
		head = bytes.Clone(k[len(prefix):])
		return errStop
	}); err != nil {
		return nil, fmt.Errorf("thread %q namespace %q: the newest checkpoint: %w", thread, ns, err)
	}
	return head, nil
}

// checkHead fails with ErrConflict unless parent is the newest checkpoint
// of (thread, ns) (or both are absent).
func checkHead(r reader, thread, ns string, parent []byte) error {
	head, err := writeHead(r, thread, ns)
	if err != nil {
		return err
	}
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
// stored record if the caller read it in this op (nil: read here). given:
// id is the caller's, so it may be stored already (a retried Put); an id
// from s.ids is newer than every stored one.
func (s *Store) putCheckpoint(w writer, thread, ns string, id [idLen]byte, given bool, rec, md []byte, blobs []blobWrite, base, baseRec []byte) error {
	if base == nil {
		// Maybe the thread's first checkpoint (with a parent, the thread
		// has one): list it in the directory of threads (thread_dir.go).
		if err := noteThread(w, thread); err != nil {
			return err
		}
		// And maybe the namespace's first: listed too.
		if err := noteNamespace(w, thread, ns); err != nil {
			return err
		}
	}
	key := checkpointKey(ns, id)
	seed := seedOf(thread)
	var baseVersions map[string]string
	if base != nil && len(blobs) > 0 {
		raw := baseRec
		if raw == nil {
			raw = w.Get(threadPath(thread, bucketCheckpoints), checkpointKey(ns, [idLen]byte(base)))
		}
		if raw != nil {
			r, err := decodeCheckpointRecord(seed, checkpointKey(ns, [idLen]byte(base)), raw)
			if err != nil {
				return fmt.Errorf("parent %s: %w", idString([idLen]byte(base)), err)
			}
			baseVersions = r.Versions
		}
	}
	blPath := threadPath(thread, bucketBlobs)
	var stored *checkpointRecord // the checkpoint as stored before (a put again), read when needed
	for _, b := range blobs {
		v, ok := baseVersions[b.channel]
		if b.named {
			// The parent names the same version: its Put made sure of a
			// record under it (GC keeps what a kept checkpoint names).
			if ok && v == b.version || w.Get(blPath, blobKey(ns, b.channel, b.version)) != nil {
				continue
			}
			if given {
				// A put again of a stored checkpoint that named this
				// version too: its first put made sure of a record under
				// it, so none now is damage, which reads report
				// (ErrCorrupt); "no value" would cover it, the channel's
				// value lost without a word.
				if stored == nil {
					if raw := w.Get(threadPath(thread, bucketCheckpoints), key); raw != nil {
						r, err := decodeCheckpointRecord(seed, key, raw)
						if err != nil {
							return fmt.Errorf("checkpoint %s: %w", idString(id), err)
						}
						stored = r
					} else {
						stored = &checkpointRecord{}
					}
				}
				if sv, ok := stored.Versions[b.channel]; ok && sv == b.version {
					continue
				}
			}
			b.empty = true
		}
		var baseBlob []byte
		if ok && v != b.version {
			baseBlob = w.Get(blPath, blobKey(ns, b.channel, v))
		}
		if err := storeChannel(w, s.keys, thread, seed, ns, b, v, baseBlob, s.deltaFold); err != nil {
			return err
		}
	}
	puts := []struct {
		p    bucketPath
		k, v []byte
	}{
		{threadPath(thread, bucketCheckpoints), key, rec},
		{threadPath(thread, bucketMetadata), key, md},
		{bucketPath{bucketIndex}, indexKey(id, thread, ns), nil},
	}
	for _, p := range puts {
		if err := w.Put(p.p, p.k, p.v); err != nil {
			return err
		}
	}
	// The history entry; a checkpoint put again keeps its value, the
	// tally of its pending writes, which stay (write_tally.go).
	op, ok := threadPath(thread, bucketOrder), orderKey(id, ns)
	if given && len(w.Get(op, ok)) > 0 {
		return nil
	}
	return w.Put(op, ok, nil)
}

// PutWrites attaches pending writes of task taskID to the checkpoint in cfg
// (thread and checkpoint id required; the checkpoint must exist, else
// ErrNotFound). Each write is keyed (taskID, idx): idx is its position in
// writes, or a fixed negative index for the special channels (ChannelError
// -1, ChannelScheduled -2, ChannelInterrupt -3, ChannelResume -4). A special
// write replaces a stored one; a regular write whose key is already stored
// is ignored (first wins), so a retried task does not change what it wrote.
// No writes is nothing to do: nil without looking the checkpoint up (as
// redisstore), but ErrClosed after Close and ErrReadOnly on a read-only
// handle, as any write.
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
	if err != nil {
		return err
	}
	if len(pw.recs) == 0 {
		return s.idle(ctx, true)
	}
	what := writeName{task: taskID}
	return s.writeOrdered(ctx, pw.size(), &what, func(w writer) error {
		if w.Get(threadPath(cfg.ThreadID, bucketCheckpoints), checkpointKey(cfg.CheckpointNS, id)) == nil {
			if err := checkpointHidden(w, cfg.ThreadID, cfg.CheckpointNS, id, writableLists); err != nil {
				return err
			}
			return fmt.Errorf("%w: checkpoint %s in thread %q namespace %q (deleted or never written)", ErrNotFound, cfg.CheckpointID, cfg.ThreadID, cfg.CheckpointNS)
		}
		return pw.apply(w, cfg.ThreadID)
	}, nil)
}

// preparedWrites are one task's pending writes, encoded.
type preparedWrites struct {
	orderKey []byte // the checkpoint's history-order key, whose value is its tally (write_tally.go)
	recs     []preparedWrite
}

type preparedWrite struct {
	k, v    []byte
	replace bool
}

// size is the bytes of records the writes hold until committed.
func (pw preparedWrites) size() int {
	n := len(pw.orderKey)
	for _, r := range pw.recs {
		n += len(r.k) + len(r.v)
	}
	return n
}

func prepareWrites(kr *keyring, thread, ns string, id [idLen]byte, writes []Write, taskID, taskPath string) (preparedWrites, error) {
	var pw preparedWrites
	if err := validName("task id", taskID, MaxNameLen); err != nil {
		return pw, err
	}
	pw.recs = make([]preparedWrite, 0, len(writes))
	pw.orderKey = orderKey(id, ns)
	seed := seedOf(thread)
	for i, wr := range writes {
		if err := validName("channel name", wr.Channel, MaxNameLen); err != nil {
			return pw, err
		}
		raw, err := encodeDescribed(func() string { return fmt.Sprintf("write %d (channel %q)", i, wr.Channel) }, wr.Value)
		if err != nil {
			return pw, err
		}
		idx, special := saverkit.WriteIndex(wr.Channel, i)
		key := writeKey(ns, id, taskID, idx)
		rec, err := encodeWriteRecord(kr, thread, seed, key, &writeRecord{Channel: wr.Channel, TaskPath: taskPath, Value: []byte(raw)})
		if err != nil {
			return pw, fmt.Errorf("%w: write %d: %v", ErrEncode, i, err)
		}
		pw.recs = append(pw.recs, preparedWrite{key, rec, special})
	}
	return pw, nil
}

// apply stores the writes: a regular one already stored is kept (first
// wins), a special one replaces it. The checkpoint's tally counts each
// write stored under a key it did not have, and a replaced one's record.
func (pw preparedWrites) apply(w writer, thread string) error {
	path := threadPath(thread, bucketWrites)
	var added writeTally
	for _, r := range pw.recs {
		old := w.Get(path, r.k)
		if old != nil && !r.replace {
			continue
		}
		if old == nil {
			added.add(r.k, r.v)
		} else {
			added.replaced(r.k, old, r.v) // before the Put: old is the writer's
		}
		if err := w.Put(path, r.k, r.v); err != nil {
			return err
		}
	}
	if added == (writeTally{}) {
		return nil
	}
	return addToTally(w, thread, pw.orderKey, added)
}
