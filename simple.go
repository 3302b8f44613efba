package ckpt

// The seed's simple save/restore API, on top of the Saver: each top-level
// key of the state is a channel, and the store itself finds which channels
// changed by comparing encoded bytes with the previous checkpoint.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"time"
)

// Snapshot is one saved state of a thread (root namespace). It holds no
// pending writes: a run resuming after a crash reads the writes its tasks
// stored on the checkpoint with GetTuple (Config{ThreadID: ThreadID,
// CheckpointID: CheckpointID}), in Tuple.PendingWrites.
type Snapshot struct {
	ThreadID     string
	CheckpointID string
	ParentID     string // "" for the first checkpoint of the thread
	Time         time.Time
	// State holds each channel's stored bytes; decode with Decode, or all
	// at once with StateMap.
	State    map[string]Raw
	Metadata Metadata
}

// Decode decodes one channel of the state into v (a pointer). A channel not
// in the state is ErrNotFound.
func (s *Snapshot) Decode(channel string, v any) error {
	raw, ok := s.State[channel]
	if !ok {
		return fmt.Errorf("%w: channel %q in checkpoint %s", ErrNotFound, channel, s.CheckpointID)
	}
	if err := raw.Decode(v); err != nil {
		return fmt.Errorf("channel %q: %w", channel, err)
	}
	return nil
}

// StateMap decodes the whole state generically.
func (s *Snapshot) StateMap() (map[string]any, error) {
	out := make(map[string]any, len(s.State))
	for ch, raw := range s.State {
		v, err := raw.Value()
		if err != nil {
			return nil, fmt.Errorf("channel %q: %w", ch, err)
		}
		out[ch] = v
	}
	return out, nil
}

func snapshotOf(t *Tuple) *Snapshot {
	s := &Snapshot{
		ThreadID:     t.Config.ThreadID,
		CheckpointID: t.Config.CheckpointID,
		Time:         t.Checkpoint.TS,
		State:        make(map[string]Raw, len(t.Checkpoint.ChannelValues)),
		Metadata:     t.Metadata,
	}
	if t.ParentConfig != nil {
		s.ParentID = t.ParentConfig.CheckpointID
	}
	for ch, v := range t.Checkpoint.ChannelValues {
		if raw, ok := v.(Raw); ok {
			s.State[ch] = raw
		}
	}
	return s
}

// Save stores state as a new checkpoint of the thread (root namespace) and
// returns its id. Its parent is the thread's newest checkpoint, or, when
// WriteOptions.Parent is set (WithWriteOptions), that checkpoint: a fork,
// for time travel (a new branch from an older state; the old branch stays
// as it was, and the new checkpoint becomes the thread's newest). A Parent
// that is not in the thread is ErrNotFound.
//
// Only channels whose encoded bytes differ from the parent's are written,
// with a new version; the others carry over. Channels absent from state
// are absent from the new checkpoint. The comparison and the write happen
// in one transaction, so concurrent Saves on one thread each see the
// other's result. With WriteOptions.IfHead the save fails with ErrConflict
// unless WriteOptions.Parent is still the thread's newest checkpoint (""
// : the thread must have none); a Parent not in the thread is ErrNotFound
// with IfHead too.
func (s *Store) Save(ctx context.Context, threadID string, state map[string]any, meta Metadata) (_ string, err error) {
	defer s.obs.done(OpPut, &err)
	if err := s.refusePlain(); err != nil {
		return "", err
	}
	if err := validThread(threadID); err != nil {
		return "", err
	}
	type enc struct {
		ch  string
		raw Raw
	}
	encoded := make([]enc, 0, len(state))
	for ch, v := range state {
		if err := validName("channel name", ch, MaxNameLen); err != nil {
			return "", err
		}
		raw, err := encodeDescribed(func() string { return fmt.Sprintf("channel %q", ch) }, v)
		if err != nil {
			return "", err
		}
		encoded = append(encoded, enc{ch, raw})
	}
	sort.Slice(encoded, func(i, j int) bool { return encoded[i].ch < encoded[j].ch })
	seed := seedOf(threadID)
	md, err := encodeMetadata(seed, nil, meta) // summed again under its key below
	if err != nil {
		return "", err
	}
	wo := writeOptionsFrom(ctx)
	var named []byte // the parent the caller named, if any
	if wo.Parent != "" {
		p, err := parseID("WriteOptions.Parent", wo.Parent)
		if err != nil {
			return "", err
		}
		named = p[:]
	}
	var id [idLen]byte
	var now time.Time
	// The id is taken as the op is queued, in commit order, so the newest
	// checkpoint of a thread is the last one saved even when Saves race
	// (and an Async Save still returns its id at once). With no id left
	// after the floor (ErrIDsExhausted) the op is not queued and the call
	// fails, Async too: acknowledged, it would have been lost under the
	// zero id it returned (h220_no_id_left_test.go).
	assign := func() (err error) { now = time.Now(); id, err = s.ids.next(now); return err }
	size := len(md)
	for _, e := range encoded {
		size += len(e.ch) + len(e.raw)
	}
	what := writeName{kind: "save", thread: threadID, id: &id}
	err = s.writeOrdered(ctx, size, &what, func(w writer) error {
		head, err := writeHead(w, threadID, "")
		if err != nil {
			return err
		}
		parent := head
		if named != nil {
			parent = named
		}
		var prev map[string]string
		if parent != nil {
			pk := checkpointKey("", [idLen]byte(parent))
			raw := w.Get(threadPath(threadID, bucketCheckpoints), pk)
			if raw == nil {
				if err := checkpointHidden(w, threadID, "", [idLen]byte(parent), writableLists); err != nil {
					return fmt.Errorf("parent checkpoint: %w", err)
				}
				return fmt.Errorf("%w: parent checkpoint %s in thread %q (deleted or never written)", ErrNotFound, idString([idLen]byte(parent)), threadID)
			}
			rec, err := decodeCheckpointRecord(seed, pk, raw)
			if err != nil {
				return err
			}
			prev = rec.Versions
		}
		// The head is compared once the parent is known to exist: a
		// Parent not in the thread is ErrNotFound with IfHead too.
		if wo.IfHead && !bytes.Equal(head, named) {
			return checkHead(w, threadID, "", named)
		}
		versions := make(map[string]string, len(encoded))
		var blobs []blobWrite
		blPath := threadPath(threadID, bucketBlobs)
		for _, e := range encoded {
			if ver, ok := prev[e.ch]; ok {
				if stored := w.Get(blPath, blobKey("", e.ch, ver)); stored != nil {
					rel, _, _, err := relate(w, s.keys, threadID, seed, "", e.ch, ver, stored, e.raw, nil)
					if err != nil {
						return fmt.Errorf("channel %q: %w", e.ch, err)
					}
					if rel == relEqual {
						versions[e.ch] = ver
						continue
					}
				}
			}
			ver := idString(id)
			versions[e.ch] = ver
			blobs = append(blobs, blobWrite{channel: e.ch, version: ver, value: e.raw})
		}
		key := checkpointKey("", id)
		rec, err := encodeCheckpointRecord(seed, key, &checkpointRecord{TS: now.UnixNano(), Parent: parent, Versions: versions})
		if err != nil {
			return err
		}
		return s.putCheckpoint(w, threadID, "", id, false, rec, sumUnder(seed, key, md), blobs, parent, nil)
	}, assign)
	if err != nil {
		return "", err
	}
	return idString(id), nil
}

// Versions written by Save: a changed channel's new version is the id of
// the checkpoint that writes it. A version must name one value for ever
// (the store refuses a different value under a stored version), and a
// per-channel counter cannot promise that: it restarts when a channel is
// dropped and added back, and two branches forked from one checkpoint both
// count to the same next number. A checkpoint id is unique in the store,
// and ids come from one monotonic source, so along every chain of
// checkpoints a channel's versions increase (as strings: ULIDs sort by
// time), which is the order LangGraph-style readers compare versions in.
// It also says which checkpoint last changed the channel. Files written
// before kept decimal counters ("1", "2", ...): nothing parses versions as
// numbers, so such a channel simply continues with an id.

// Load returns the snapshot with the given id from the thread's root
// namespace. Unknown thread or id: ErrNotFound.
func (s *Store) Load(ctx context.Context, threadID, checkpointID string) (*Snapshot, error) {
	if checkpointID == "" {
		return nil, fmt.Errorf("%w: Load needs a checkpoint id (use Latest for the newest)", ErrInvalidConfig)
	}
	t, err := s.GetTuple(ctx, Config{ThreadID: threadID, CheckpointID: checkpointID})
	if err != nil {
		return nil, err
	}
	return snapshotOf(t), nil
}

// Latest returns the thread's newest snapshot (root namespace). A thread
// with no checkpoint there (unknown, or deleted) is ErrNotFound.
func (s *Store) Latest(ctx context.Context, threadID string) (*Snapshot, error) {
	t, err := s.GetTuple(ctx, Config{ThreadID: threadID})
	if err != nil {
		return nil, err
	}
	return snapshotOf(t), nil
}

// History yields the thread's current branch, newest first: the newest
// checkpoint of the root namespace, then its parent, its parent's parent,
// and so on. After a fork (Save with WriteOptions.Parent) it is the new
// branch, and the checkpoints of other branches do not appear; HistoryFrom
// walks any branch, Branches lists them, and List with ThreadID and
// Namespace NS("") gives every checkpoint of every branch by id.
// opts.Before, Limit and Filter apply to the walk: checkpoints whose id is
// not below Before or whose metadata does not match Filter are not
// yielded, but the walk goes on through them to their parents. Its ThreadID and Namespace are set by History. An
// unknown thread yields nothing. The walk ends at the first checkpoint or
// at a parent that retention (GC, Prune) removed.
func (s *Store) History(ctx context.Context, threadID string, opts ListOptions) iter.Seq2[*Snapshot, error] {
	return s.walk(ctx, threadID, nil, opts)
}

// HistoryFrom is History starting at checkpointID (yielded first) instead
// of the thread's newest checkpoint: the branch that leads to it. An
// unknown id is ErrNotFound.
func (s *Store) HistoryFrom(ctx context.Context, threadID, checkpointID string, opts ListOptions) iter.Seq2[*Snapshot, error] {
	id, err := parseID("checkpoint id", checkpointID)
	if err != nil {
		return func(yield func(*Snapshot, error) bool) { yield(nil, err) }
	}
	return s.walk(ctx, threadID, &id, opts)
}

// walk follows parent links from start (nil: the newest checkpoint), a page
// per read transaction like List, so the caller may write while iterating.
func (s *Store) walk(ctx context.Context, threadID string, start *[idLen]byte, opts ListOptions) iter.Seq2[*Snapshot, error] {
	return func(yield func(*Snapshot, error) bool) {
		yield = countList(&s.obs, yield)
		if err := validThread(threadID); err != nil {
			yield(nil, err)
			return
		}
		opts.ThreadID, opts.Namespace = threadID, NS("")
		sel, err := newSelector(opts)
		if err != nil {
			yield(nil, err)
			return
		}
		next, first := start, true
		seen := map[[idLen]byte]bool{} // a Put may name any parent: refuse to loop
		left := opts.Limit
		for {
			var page []*Tuple
			done := false
			err := s.view(ctx, func(r reader) error {
				for len(page) < listPage && (opts.Limit == 0 || len(page) < left) {
					t, err := s.loadTuple(r, threadID, "", next, nil)
					if errors.Is(err, ErrNotFound) && (!first || start == nil) {
						done = true // no checkpoint yet, or the parent was removed
						return nil
					}
					if err != nil {
						return err
					}
					first = false
					id, _ := parseID("checkpoint id", t.Config.CheckpointID)
					if seen[id] {
						return fmt.Errorf("%w: thread %q: checkpoint %s is its own ancestor", ErrCorrupt, threadID, t.Config.CheckpointID)
					}
					seen[id] = true
					if (sel.before == nil || bytes.Compare(id[:], sel.before) < 0) &&
						(len(sel.filter) == 0 || matchMetadata(t.Metadata, sel.filter)) {
						page = append(page, t)
					}
					if t.ParentConfig == nil {
						done = true
						return nil
					}
					p, err := parseID("parent checkpoint id", t.ParentConfig.CheckpointID)
					if err != nil {
						return err
					}
					next = &p
					if err := ctx.Err(); err != nil {
						return err
					}
				}
				return nil
			})
			for _, t := range page {
				if !yield(snapshotOf(t), nil) {
					return
				}
				if left--; opts.Limit > 0 && left == 0 {
					return
				}
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if done {
				return
			}
		}
	}
}

// Branches returns the tips of the thread's branches (root namespace): the
// checkpoints that are no other checkpoint's parent, newest first. A thread
// that never forked has one; an unknown thread has none. Walk a branch with
// HistoryFrom, continue it with Save and WriteOptions.Parent set to its tip.
func (s *Store) Branches(ctx context.Context, threadID string) ([]*Snapshot, error) {
	if err := validThread(threadID); err != nil {
		return nil, err
	}
	var out []*Snapshot
	err := s.view(ctx, func(r reader) error {
		var ids [][idLen]byte
		parents := map[[idLen]byte]bool{}
		prefix := nsKey("")
		seed := seedOf(threadID)
		if err := r.Scan(threadPath(threadID, bucketCheckpoints), prefix, nil, true, func(k, v []byte) error {
			_, id, err := parseCheckpointKey(k)
			if err != nil {
				return fmt.Errorf("thread %q: %w", threadID, err)
			}
			rec, err := decodeCheckpointRecord(seed, k, v)
			if err != nil {
				return fmt.Errorf("checkpoint %s: %w", idString(id), err)
			}
			ids = append(ids, id)
			if len(rec.Parent) == idLen {
				parents[[idLen]byte(rec.Parent)] = true
			}
			return ctx.Err()
		}); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			// A thread never written, or one whose bucket or root
			// namespace damage hides (thread_dir.go).
			root := ""
			if err := emptyHidden(r, threadID, &root, !s.unlisted); err != nil {
				return err
			}
		}
		// A checkpoint whose record is gone would make its parent look like
		// a tip: the walk is checked against the history (list_history.go).
		tr := s.newTupleReader(r)
		tr.setThread(threadID)
		tr.hist.walked = append(tr.hist.walked, ids...)
		err := tr.checkInHistory("", nil, nil)
		tr.release()
		if err != nil {
			return err
		}
		for _, id := range ids {
			if parents[id] {
				continue
			}
			t, err := s.loadTuple(r, threadID, "", &id, nil)
			if err != nil {
				return err
			}
			out = append(out, snapshotOf(t))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
