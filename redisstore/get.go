package redisstore

// GetTuple: one checkpoint with its values and pending writes, read by
// one script, and its decoding (List reads its tuples the same way).

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
)

// GetTuple returns the checkpoint cfg names, or the newest of the thread
// and namespace when cfg.CheckpointID is empty, read in one atomic script
// (one round trip). Unknown thread or id: ckpt.ErrNotFound.
func (s *Store) GetTuple(ctx context.Context, cfg ckpt.Config) (*ckpt.Tuple, error) {
	if err := saverkit.CheckConfig(cfg.ThreadID, cfg.CheckpointNS); err != nil {
		return nil, err
	}
	var f string
	if cfg.CheckpointID != "" {
		u, err := saverkit.ParseID("checkpoint id", cfg.CheckpointID)
		if err != nil {
			return nil, err
		}
		cfg.CheckpointID = u.String()
		f = cpField(cfg.CheckpointNS, cfg.CheckpointID)
	}
	t, err := s.load(ctx, cfg.ThreadID, cfg.CheckpointNS, f)
	if err != nil {
		return nil, err
	}
	if t == nil {
		if f == "" {
			return nil, fmt.Errorf("%w: no checkpoint in thread %q namespace %q", ckpt.ErrNotFound, cfg.ThreadID, cfg.CheckpointNS)
		}
		return nil, fmt.Errorf("%w: checkpoint %s in thread %q namespace %q", ckpt.ErrNotFound, cfg.CheckpointID, cfg.ThreadID, cfg.CheckpointNS)
	}
	return t, nil
}

// load reads one checkpoint (f "" for the namespace head); nil, nil when
// there is none.
func (s *Store) load(ctx context.Context, thread, ns, f string) (*ckpt.Tuple, error) {
	keys := s.keys.thread(thread)
	reply, err := s.run(ctx, getScript, "get", keys, f, nsKey(ns), prefixEnd(nsKey(ns)))
	if err != nil {
		return nil, err
	}
	return decodeTuple(keys, thread, ns, reply)
}

func decodeTuple(keys []string, thread, ns string, reply []any) (*ckpt.Tuple, error) {
	if len(reply) == 0 {
		return nil, nil
	}
	if len(reply) == 2 && reply[0] == "corrupt" {
		f, _ := reply[1].(string)
		return nil, corrupt(keys[kCP], f, "checkpoint value does not parse")
	}
	if len(reply) == 2 && reply[0] == "badhead" {
		m, _ := reply[1].(string)
		return nil, corrupt(keys[kOrd], m, "the namespace's newest member is not a stored checkpoint")
	}
	if len(reply) != 7 {
		return nil, corrupt(keys[kCP], "", "get script replied %d items", len(reply))
	}
	f, _ := reply[0].(string)
	cpVal, _ := reply[1].(string)
	_, id, err := parseCPField(keys[kCP], f)
	if err != nil {
		return nil, err
	}
	rec, err := decodeCheckpoint(keys[kCP], f, []byte(cpVal))
	if err != nil {
		return nil, err
	}
	mdVal, ok := reply[2].(string)
	if !ok {
		return nil, corrupt(keys[kMD], f, "checkpoint has no metadata")
	}
	md, err := decodeMetadata(keys[kMD], f, []byte(mdVal))
	if err != nil {
		return nil, err
	}
	values := make(map[string]any, len(rec.Versions))
	blobFields, _ := reply[3].([]any)
	blobVals, _ := reply[4].([]any)
	if len(blobFields) != len(blobVals) {
		return nil, corrupt(keys[kBlobs], "", "blob reply of %d fields and %d values", len(blobFields), len(blobVals))
	}
	byField := make(map[string]string, len(blobFields))
	for i, bf := range blobFields {
		if v, ok := blobVals[i].(string); ok {
			byField[bf.(string)] = v
		}
	}
	for ch, ver := range rec.Versions {
		bf := blobField(ns, ch, ver)
		b, ok := byField[bf]
		if !ok {
			continue // never written (LangGraph semantics): no value
		}
		v, ok, err := decodeBlob(keys[kBlobs], bf, []byte(b))
		if err != nil {
			return nil, err
		}
		if ok {
			values[ch] = v
		}
	}
	writes, err := decodeWrites(keys[kWrites], f, reply[5], reply[6])
	if err != nil {
		return nil, err
	}
	t := &ckpt.Tuple{
		Config: ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: id},
		Checkpoint: ckpt.Checkpoint{
			V: rec.V, ID: id, TS: time.Unix(0, rec.TS).UTC(),
			ChannelValues: values, ChannelVersions: rec.Versions, VersionsSeen: rec.VersionsSeen,
		},
		Metadata:      md,
		PendingWrites: writes,
	}
	if t.Checkpoint.ChannelVersions == nil {
		t.Checkpoint.ChannelVersions = map[string]string{}
	}
	if rec.Parent != "" {
		t.ParentConfig = &ckpt.Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: rec.Parent}
	}
	return t, nil
}

// decodeWrites decodes the writes of checkpoint field f, ordered by
// (task path, task id, idx).
func decodeWrites(key, f string, fieldsReply, valuesReply any) ([]ckpt.PendingWrite, error) {
	fields, _ := fieldsReply.([]any)
	vals, _ := valuesReply.([]any)
	if len(fields) != len(vals) {
		return nil, corrupt(key, "", "write reply of %d fields and %d values", len(fields), len(vals))
	}
	var out []ckpt.PendingWrite
	for i, fv := range fields {
		wf, _ := fv.(string)
		v, ok := vals[i].(string)
		if !ok {
			return nil, corrupt(key, wf, "indexed write has no value")
		}
		task, idx, err := parseWriteField(key, f, wf)
		if err != nil {
			return nil, err
		}
		rec, err := decodeWrite(key, wf, []byte(v))
		if err != nil {
			return nil, err
		}
		out = append(out, ckpt.PendingWrite{TaskID: task, TaskPath: rec.TaskPath, Idx: idx, Channel: rec.Channel, Value: ckpt.Raw(rec.Value)})
	}
	slices.SortStableFunc(out, func(a, b ckpt.PendingWrite) int {
		return cmp.Or(cmp.Compare(a.TaskPath, b.TaskPath), cmp.Compare(a.TaskID, b.TaskID), cmp.Compare(a.Idx, b.Idx))
	})
	return out, nil
}
