package redisstore

// The writes: Put and PutFull (a checkpoint, its metadata, values and
// pending writes, in one script) and PutWrites.

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/oklog/ulid/v2"
)

// Put stores a checkpoint atomically: header, metadata, the values of the
// channels named in newVersions (others are found through the versions of
// earlier checkpoints) and index entries, in one script. cfg.CheckpointID
// names the parent, which must exist in the thread and namespace
// (ckpt.ErrNotFound otherwise); empty starts a new history. An empty cp.ID
// gets a new ULID that sorts after the namespace's head even when another
// machine's clock is ahead; a given one must be a valid ULID. With
// ckpt.WriteOptions.IfHead in ctx the put fails with ckpt.ErrConflict
// unless the parent is still the newest checkpoint of the namespace.
func (s *Store) Put(ctx context.Context, cfg ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, newVersions map[string]string) (ckpt.Config, error) {
	return s.PutFull(ctx, cfg, cp, meta, newVersions, nil)
}

// PutFull stores a checkpoint together with pending writes attached to it
// in one script (one round trip): what Put followed by one PutWrites per
// task would store.
func (s *Store) PutFull(ctx context.Context, cfg ckpt.Config, cp ckpt.Checkpoint, meta ckpt.Metadata, newVersions map[string]string, writes []ckpt.TaskWrites) (ckpt.Config, error) {
	if err := saverkit.CheckConfig(cfg.ThreadID, cfg.CheckpointNS); err != nil {
		return ckpt.Config{}, err
	}
	ns := cfg.CheckpointNS
	var parentF string
	if cfg.CheckpointID != "" {
		p, err := saverkit.ParseID("parent checkpoint id", cfg.CheckpointID)
		if err != nil {
			return ckpt.Config{}, err
		}
		cfg.CheckpointID = p.String() // canonical spelling, as stored
		parentF = cpField(ns, cfg.CheckpointID)
	}
	now := time.Now()
	generated := cp.ID == ""
	id := cp.ID
	var given ulid.ULID // cp.ID parsed, observed once stored
	if generated {
		u, err := s.ids.Next(now)
		if err != nil {
			return ckpt.Config{}, err
		}
		id = u.String()
	} else {
		u, err := saverkit.ParseID("checkpoint id", cp.ID)
		if err != nil {
			return ckpt.Config{}, err
		}
		id = u.String()
		if err := saverkit.CheckParent(id, cfg.CheckpointID); err != nil {
			return ckpt.Config{}, err
		}
		// The floor of new ids is raised to it once the script stored it
		// ("ok" below), not here: a Put refused before stores nothing and
		// must not leave its id as the floor (the largest ULID would leave
		// no new id, h222_refused_put_floor_test.go).
		given = u
	}
	ts := cp.TS
	if ts.IsZero() {
		ts = now
	}
	if err := saverkit.CheckTS(ts); err != nil {
		return ckpt.Config{}, err
	}
	blobArgs := make([]any, 0, 2*len(newVersions))
	blobOf := make(map[string]string, len(newVersions)) // blob field -> channel
	for _, ch := range slices.Sorted(maps.Keys(newVersions)) {
		ver := newVersions[ch]
		if err := saverkit.CheckChannel(ch, ver); err != nil {
			return ckpt.Config{}, err
		}
		if err := saverkit.CheckVersion(ch, ver, cp.ChannelVersions); err != nil {
			return ckpt.Config{}, err
		}
		v, ok := cp.ChannelValues[ch]
		var blob []byte
		if !ok {
			blob = encodeBlob(nil, true)
		} else {
			raw, err := ckpt.EncodeValue(fmt.Sprintf("channel %q", ch), v)
			if err != nil {
				return ckpt.Config{}, err
			}
			blob = encodeBlob(raw, false)
		}
		blobOf[blobField(ns, ch, ver)] = ch
		blobArgs = append(blobArgs, blobField(ns, ch, ver), blob)
	}
	rec := &checkpointRecord{V: cp.V, TS: ts.UnixNano(), Parent: cfg.CheckpointID, Versions: cp.ChannelVersions, VersionsSeen: cp.VersionsSeen}
	// A version the checkpoint names without a new value refers to one
	// stored before; where none is, the script stores "no value" under it
	// (as the file store does), so the version keeps naming what this
	// checkpoint read: a later put giving it a value is ErrVersionReused,
	// not a value that appears in this checkpoint afterwards.
	var namedArgs []any
	for _, ch := range slices.Sorted(maps.Keys(rec.Versions)) {
		ver := rec.Versions[ch]
		if err := saverkit.CheckChannel(ch, ver); err != nil {
			return ckpt.Config{}, err
		}
		if _, ok := newVersions[ch]; !ok {
			namedArgs = append(namedArgs, blobField(ns, ch, ver))
		}
	}
	md, err := encodeMetadata(meta)
	if err != nil {
		return ckpt.Config{}, err
	}
	var writeArgs []any
	for _, tw := range writes {
		w, err := prepareWrites(ns, id, tw.Writes, tw.TaskID, tw.TaskPath)
		if err != nil {
			return ckpt.Config{}, err
		}
		writeArgs = append(writeArgs, w...)
	}
	ifHead := "0"
	if saverkit.WriteOptionsFrom[ckpt.WriteOptions](ctx).IfHead {
		ifHead = "1"
	}
	// The thread's keys, the index, the recent puts and the layout marker
	// (putScript): one
	// token for the whole call, whose resends and stale retries carry it.
	keys := append(s.threadKeys(cfg.ThreadID), s.keys.recentPuts(cfg.ThreadID), s.keys.format())
	tok := callToken()
	for attempt := 1; ; attempt++ {
		cpVal, err := encodeCheckpoint(ns, rec)
		if err != nil {
			return ckpt.Config{}, err
		}
		f := cpField(ns, id)
		args := []any{f, parentF, nsKey(ns), prefixEnd(nsKey(ns)), cpVal, md,
			idsMember(ns, id), indexMember(cfg.ThreadID, ns, id), ifHead, boolArg(generated),
			s.ttlMillis(), s.keepLast, len16(cfg.ThreadID), tok, time.Now().UnixMilli(), len(blobArgs) / 2}
		args = append(args, blobArgs...)
		args = append(args, len(writeArgs)/3)
		args = append(args, writeArgs...)
		args = append(args, len(namedArgs), encodeBlob(nil, true))
		args = append(args, namedArgs...)
		reply, err := s.run(ctx, putScript, "put", keys, args...)
		if err != nil {
			return ckpt.Config{}, err
		}
		status, detail, err := statusOf(keys[kCP], reply)
		if err != nil {
			return ckpt.Config{}, err
		}
		switch status {
		case "ok":
			if !generated {
				// Before the call returns: every id drawn after it sorts
				// after this one.
				s.ids.Observe(given)
			}
			return ckpt.Config{ThreadID: cfg.ThreadID, CheckpointNS: ns, CheckpointID: id}, nil
		case "notfound":
			return ckpt.Config{}, fmt.Errorf("%w: parent checkpoint %s in thread %q namespace %q (deleted or never written)", ckpt.ErrNotFound, cfg.CheckpointID, cfg.ThreadID, ns)
		case "conflict":
			return ckpt.Config{}, fmt.Errorf("%w: thread %q namespace %q: expected head %s, head is %s", ckpt.ErrConflict, cfg.ThreadID, ns, idName(cfg.CheckpointID), headName(detail))
		case "cycle":
			return ckpt.Config{}, fmt.Errorf("%w: thread %q namespace %q: checkpoint %s put again under %s, which descends from it (a checkpoint cannot be its own ancestor; nothing written)", ckpt.ErrInvalidConfig, cfg.ThreadID, ns, id, cfg.CheckpointID)
		case "reused":
			ch := blobOf[detail]
			return ckpt.Config{}, &ckpt.VersionConflictError{Thread: cfg.ThreadID, NS: ns, Channel: ch, Version: newVersions[ch]}
		case "stale":
			// Another machine wrote a newer id (its clock is ahead): move
			// past it and try again, a bounded number of times.
			if attempt == maxStaleRetries {
				return ckpt.Config{}, fmt.Errorf("%w: thread %q namespace %q: the head moved past every new id %d times in a row", ckpt.ErrConflict, cfg.ThreadID, ns, attempt)
			}
			_, headID, err := parseCPField(keys[kOrd], detail)
			if err != nil {
				return ckpt.Config{}, err
			}
			u, err := saverkit.ParseID("head id", headID)
			if err != nil {
				return ckpt.Config{}, corrupt(keys[kOrd], detail, "head id is not a ULID")
			}
			s.ids.Observe(u)
			if u, err = s.ids.Next(time.Now()); err != nil {
				return ckpt.Config{}, err
			}
			id = u.String()
			if len(writes) > 0 {
				writeArgs = writeArgs[:0]
				for _, tw := range writes {
					// Cannot fail: the same writes encoded above.
					w, _ := prepareWrites(ns, id, tw.Writes, tw.TaskID, tw.TaskPath)
					writeArgs = append(writeArgs, w...)
				}
			}
		case "corrupt":
			return ckpt.Config{}, corrupt(keys[kCP], detail, "checkpoint value does not parse")
		case "wrongtype":
			return ckpt.Config{}, wrongType("put", detail)
		case "format":
			return ckpt.Config{}, s.otherFormat(detail)
		default:
			return ckpt.Config{}, corrupt(keys[kCP], "", "put script replied %q", status)
		}
	}
}

// maxStaleRetries bounds how often Put draws a new id because the head
// moved past it (writers whose clocks are ahead, all writing at once).
const maxStaleRetries = 64

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func idName(id string) string { return cmp.Or(id, "none") }

func headName(f string) string {
	if len(f) < idLen {
		return "none"
	}
	return f[len(f)-idLen:]
}

// statusOf reads the {status, detail} reply of a script.
func statusOf(key string, reply []any) (status, detail string, err error) {
	if len(reply) == 0 {
		return "", "", corrupt(key, "", "empty script reply")
	}
	status, ok := reply[0].(string)
	if !ok {
		return "", "", corrupt(key, "", "script reply starts with %T", reply[0])
	}
	if len(reply) > 1 {
		detail, _ = reply[1].(string)
	}
	return status, detail, nil
}

// prepareWrites encodes one task's writes as (field, value, replace)
// script arguments.
func prepareWrites(ns, id string, writes []ckpt.Write, taskID, taskPath string) ([]any, error) {
	if err := saverkit.CheckName("task id", taskID, saverkit.MaxNameLen); err != nil {
		return nil, err
	}
	out := make([]any, 0, 3*len(writes))
	for i, wr := range writes {
		if err := saverkit.CheckName("channel name", wr.Channel, saverkit.MaxNameLen); err != nil {
			return nil, err
		}
		raw, err := ckpt.EncodeValue(fmt.Sprintf("write %d (channel %q)", i, wr.Channel), wr.Value)
		if err != nil {
			return nil, err
		}
		rec, err := encodeWrite(&writeRecord{Channel: wr.Channel, TaskPath: taskPath, Value: []byte(raw)})
		if err != nil {
			return nil, err
		}
		idx, special := saverkit.WriteIndex(wr.Channel, i)
		out = append(out, writeField(ns, id, taskID, idx), rec, boolArg(special))
	}
	return out, nil
}

// PutWrites attaches pending writes of task taskID to the checkpoint in cfg
// (thread and checkpoint id required; the checkpoint must exist, else
// ckpt.ErrNotFound). Each write is keyed (taskID, idx): idx is its position
// in writes, or the fixed negative index of a special channel. A special
// write replaces a stored one; a regular write already stored is kept
// (first wins), so a retried task does not change what it wrote.
func (s *Store) PutWrites(ctx context.Context, cfg ckpt.Config, writes []ckpt.Write, taskID, taskPath string) error {
	if err := saverkit.CheckConfig(cfg.ThreadID, cfg.CheckpointNS); err != nil {
		return err
	}
	if cfg.CheckpointID == "" {
		return fmt.Errorf("%w: PutWrites needs a checkpoint id", ckpt.ErrInvalidConfig)
	}
	u, err := saverkit.ParseID("checkpoint id", cfg.CheckpointID)
	if err != nil {
		return err
	}
	cfg.CheckpointID = u.String()
	args, err := prepareWrites(cfg.CheckpointNS, cfg.CheckpointID, writes, taskID, taskPath)
	if err != nil || len(args) == 0 {
		return err
	}
	keys := append(s.threadKeys(cfg.ThreadID), s.keys.format())
	reply, err := s.run(ctx, writesScript, "put writes", keys,
		append([]any{cpField(cfg.CheckpointNS, cfg.CheckpointID), s.ttlMillis(), len(args) / 3}, args...)...)
	if err != nil {
		return err
	}
	status, detail, err := statusOf(keys[kCP], reply)
	switch {
	case err != nil:
		return err
	case status == "wrongtype":
		return wrongType("put writes", detail)
	case status == "format":
		return s.otherFormat(detail)
	case status == "notfound":
		return fmt.Errorf("%w: checkpoint %s in thread %q namespace %q (deleted or never written)", ckpt.ErrNotFound, cfg.CheckpointID, cfg.ThreadID, cfg.CheckpointNS)
	case status != "ok":
		return corrupt(keys[kCP], "", "put writes script replied %q", status)
	}
	return nil
}
