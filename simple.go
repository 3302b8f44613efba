package ckpt

// The seed's simple save/restore API, on top of the Saver: each top-level
// key of the state is a channel, and the store itself finds which channels
// changed by comparing encoded bytes with the previous checkpoint.

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"sort"
	"strconv"
	"time"
)

// Snapshot is one saved state of a thread (root namespace).
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
	return raw.Decode(v)
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

// Save stores state as the thread's next checkpoint (root namespace) and
// returns its id. Only channels whose encoded bytes differ from the newest
// checkpoint are written, with a new version; the others carry over.
// Channels absent from state are absent from the new checkpoint. The
// comparison and the write happen in one transaction, so concurrent Saves
// on one thread each see the other's result. With WriteOptions.IfHead the
// save fails with ErrConflict unless WriteOptions.Parent is still the
// thread's newest checkpoint ("" : the thread must have none).
func (s *Store) Save(ctx context.Context, threadID string, state map[string]any, meta Metadata) (string, error) {
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
		raw, err := encodeValue(fmt.Sprintf("channel %q", ch), v)
		if err != nil {
			return "", err
		}
		encoded = append(encoded, enc{ch, raw})
	}
	sort.Slice(encoded, func(i, j int) bool { return encoded[i].ch < encoded[j].ch })
	md, err := encodeMetadata(meta)
	if err != nil {
		return "", err
	}
	wo := WriteOptionsFrom(ctx)
	var expected []byte
	if wo.IfHead && wo.Parent != "" {
		p, err := parseID("WriteOptions.Parent", wo.Parent)
		if err != nil {
			return "", err
		}
		expected = p[:]
	}
	var id [idLen]byte
	var now time.Time
	// The id is taken as the op is queued, in commit order, so the newest
	// checkpoint of a thread is the last one saved even when Saves race
	// (and an Async Save still returns its id at once).
	assign := func() { now = time.Now(); id = s.ids.next(now) }
	err = s.writeOrdered(ctx, func(w writer) error {
		head := headID(w, threadID, "")
		if wo.IfHead && !bytes.Equal(head, expected) {
			return checkHead(w, threadID, "", expected)
		}
		var prev map[string]string
		if head != nil {
			raw := w.get(threadPath(threadID, bucketCheckpoints), checkpointKey("", [idLen]byte(head)))
			rec, err := decodeCheckpointRecord(raw)
			if err != nil {
				return err
			}
			prev = rec.Versions
		}
		versions := make(map[string]string, len(encoded))
		var blobs []blobWrite
		blPath := threadPath(threadID, bucketBlobs)
		for _, e := range encoded {
			if ver, ok := prev[e.ch]; ok {
				if stored := w.get(blPath, blobKey("", e.ch, ver)); stored != nil {
					rel, _, _, err := relate(w, threadID, "", e.ch, stored, e.raw)
					if err != nil {
						return fmt.Errorf("channel %q: %w", e.ch, err)
					}
					if rel == relEqual {
						versions[e.ch] = ver
						continue
					}
				}
			}
			ver := nextVersion(prev[e.ch])
			versions[e.ch] = ver
			blobs = append(blobs, blobWrite{channel: e.ch, version: ver, value: e.raw})
		}
		rec, err := encodeCheckpointRecord(&checkpointRecord{TS: now.UnixNano(), Parent: head, Versions: versions})
		if err != nil {
			return err
		}
		return s.putCheckpoint(w, threadID, "", id, rec, md, blobs, head)
	}, assign)
	if err != nil {
		return "", err
	}
	return idString(id), nil
}

// nextVersion returns the version after prev: versions written by Save are
// decimal counters per channel.
func nextVersion(prev string) string {
	n, err := strconv.ParseUint(prev, 10, 64)
	if err != nil {
		n = 0
	}
	return strconv.FormatUint(n+1, 10)
}

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

// Latest returns the thread's newest snapshot (root namespace).
func (s *Store) Latest(ctx context.Context, threadID string) (*Snapshot, error) {
	t, err := s.GetTuple(ctx, Config{ThreadID: threadID})
	if err != nil {
		return nil, err
	}
	return snapshotOf(t), nil
}

// History yields the thread's snapshots (root namespace) newest first.
// opts.Before, Limit and Filter apply; its ThreadID and Namespace are set
// by History.
func (s *Store) History(ctx context.Context, threadID string, opts ListOptions) iter.Seq2[*Snapshot, error] {
	return func(yield func(*Snapshot, error) bool) {
		if err := validThread(threadID); err != nil {
			yield(nil, err)
			return
		}
		opts.ThreadID, opts.Namespace = threadID, NS("")
		for t, err := range s.List(ctx, opts) {
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(snapshotOf(t), nil) {
				return
			}
		}
	}
}
