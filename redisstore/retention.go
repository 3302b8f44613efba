package redisstore

// Retention: copy, prune and delete-for-runs, each thread's part in one
// script (so atomic per thread). Thread TTL and keep-last-N are Options
// (Redis expiry and trimming inside the put script).

import (
	"context"
	"fmt"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/redis/go-redis/v9"
)

// CopyThread copies every checkpoint of srcThreadID, with metadata,
// namespaces, pending writes, values and order, to dstThreadID, in one
// script; the source is unchanged. Missing source: ckpt.ErrNotFound. An
// existing destination is ckpt.ErrExists unless opts.Replace.
func (s *Store) CopyThread(ctx context.Context, srcThreadID, dstThreadID string, opts ckpt.CopyOptions) error {
	if err := saverkit.CheckThread(srcThreadID); err != nil {
		return err
	}
	if err := saverkit.CheckThread(dstThreadID); err != nil {
		return err
	}
	if srcThreadID == dstThreadID {
		return fmt.Errorf("%w: copy of thread %q onto itself", ckpt.ErrInvalidConfig, srcThreadID)
	}
	keys := append(s.keys.thread(srcThreadID), s.keys.thread(dstThreadID)...)
	keys = append(keys, s.keys.index(), s.keys.replyMemo(dstThreadID), s.keys.format())
	reply, err := s.run(ctx, copyScript, "copy thread", keys, len16(srcThreadID), len16(dstThreadID), boolArg(opts.Replace), s.ttlMillis(),
		callToken(), replyMemoMillis)
	if err != nil {
		return err
	}
	status, detail, err := statusOf(keys[0], reply)
	switch {
	case err != nil:
		return err
	case status == "wrongtype":
		return wrongType("copy thread", detail)
	case status == "format":
		return s.otherFormat(detail)
	case status == "notfound":
		return fmt.Errorf("%w: thread %q", ckpt.ErrNotFound, srcThreadID)
	case status == "exists":
		return fmt.Errorf("%w: thread %q (copy with Replace to overwrite it)", ckpt.ErrExists, dstThreadID)
	case status != "ok":
		return corrupt(keys[0], "", "copy script replied %q", status)
	}
	return nil
}

// PruneStats counts what a retention call deleted.
type PruneStats struct {
	Checkpoints, Writes, Blobs int
}

// Prune applies strategy to each thread (each in one script). Unknown
// threads and an empty list are no-ops. With ckpt.PruneKeepLatest a kept
// checkpoint whose parent was pruned still loads and still reports its
// parent config; loading that parent is ckpt.ErrNotFound.
func (s *Store) Prune(ctx context.Context, threadIDs []string, strategy ckpt.PruneStrategy) error {
	_, err := s.PruneStats(ctx, threadIDs, strategy)
	return err
}

// PruneStats is Prune that also reports what it deleted (for
// ckpt.PruneDelete, only Checkpoints is counted).
func (s *Store) PruneStats(ctx context.Context, threadIDs []string, strategy ckpt.PruneStrategy) (PruneStats, error) {
	var st PruneStats
	for _, t := range threadIDs {
		if err := saverkit.CheckThread(t); err != nil {
			return st, err
		}
	}
	if strategy != ckpt.PruneKeepLatest && strategy != ckpt.PruneDelete {
		return st, fmt.Errorf("%w: unknown prune strategy %d", ckpt.ErrInvalidConfig, strategy)
	}
	for _, t := range threadIDs {
		if strategy == ckpt.PruneDelete {
			n, err := s.deleteThread(ctx, "prune (delete)", t)
			if err != nil {
				return st, err
			}
			st.Checkpoints += n
			continue
		}
		got, err := s.prune(ctx, t, 1)
		if err != nil {
			return st, err
		}
		st.add(got)
	}
	return st, nil
}

func (st *PruneStats) add(o PruneStats) {
	st.Checkpoints += o.Checkpoints
	st.Writes += o.Writes
	st.Blobs += o.Blobs
}

// prune runs the prune script on one thread: keep the newest n
// checkpoints of each namespace, or with n 0 drop the checkpoints fields.
func (s *Store) prune(ctx context.Context, thread string, n int, fields ...any) (PruneStats, error) {
	keys := append(s.threadKeys(thread), s.keys.replyMemo(thread), s.keys.format())
	args := append([]any{len16(thread), callToken(), replyMemoMillis, n}, fields...)
	reply, err := s.run(ctx, pruneScript, "prune", keys, args...)
	if err != nil {
		return PruneStats{}, err
	}
	if len(reply) == 2 && reply[0] == "corrupt" {
		f, _ := reply[1].(string)
		return PruneStats{}, corrupt(keys[kCP], f, "checkpoint value does not parse")
	}
	if len(reply) == 2 && reply[0] == "wrongtype" {
		key, _ := reply[1].(string)
		return PruneStats{}, wrongType("prune", key)
	}
	if len(reply) == 2 && reply[0] == "format" {
		v, _ := reply[1].(string)
		return PruneStats{}, s.otherFormat(v)
	}
	if len(reply) != 3 {
		return PruneStats{}, corrupt(keys[kCP], "", "prune script replied %v", reply)
	}
	var got [3]int
	for i, v := range reply {
		x, ok := v.(int64)
		if !ok {
			return PruneStats{}, corrupt(keys[kCP], "", "prune script replied %v", reply)
		}
		got[i] = int(x)
	}
	return PruneStats{Checkpoints: got[0], Writes: got[1], Blobs: got[2]}, nil
}

// KeepLast keeps the newest n checkpoints of each namespace of each thread
// and deletes the rest with their writes and unread blobs (each thread in
// one script).
func (s *Store) KeepLast(ctx context.Context, threadIDs []string, n int) (PruneStats, error) {
	var st PruneStats
	if n < 1 {
		return st, fmt.Errorf("%w: KeepLast needs n >= 1, got %d", ckpt.ErrInvalidConfig, n)
	}
	for _, t := range threadIDs {
		if err := saverkit.CheckThread(t); err != nil {
			return st, err
		}
	}
	for _, t := range threadIDs {
		got, err := s.prune(ctx, t, n)
		if err != nil {
			return st, err
		}
		st.add(got)
	}
	return st, nil
}

// DeleteForRuns deletes every checkpoint (with its pending writes, and the
// blobs no remaining checkpoint reads) whose metadata run_id is one of
// runIDs, in every thread and namespace; other runs are untouched. It
// walks the global index and reads metadata page by page, so its cost
// grows with the number of stored checkpoints. An empty list is a no-op.
func (s *Store) DeleteForRuns(ctx context.Context, runIDs []string) error {
	if len(runIDs) == 0 {
		return nil
	}
	if err := s.checkFormat(ctx); err != nil {
		return err
	}
	want := make(map[string]bool, len(runIDs))
	for _, r := range runIDs {
		want[r] = true
	}
	byThread := map[string][]any{}
	max := "+"
	for {
		if err := s.live(ctx); err != nil {
			return err
		}
		members, err := s.rdb.ZRevRangeByLex(ctx, s.keys.index(), &redis.ZRangeBy{Min: "-", Max: max, Count: 512}).Result()
		if err != nil {
			return wrapErr(ctx, "delete for runs", err, s.keys.index())
		}
		entries := make([]listEntry, 0, len(members))
		for _, m := range members {
			thread, ns, id, err := parseIndexMember(s.keys.index(), m)
			if err != nil {
				return err
			}
			entries = append(entries, listEntry{thread, ns, id, m})
		}
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(entries))
		for i, e := range entries {
			cmds[i] = pipe.HGet(ctx, s.keys.thread(e.thread)[kMD], cpField(e.ns, e.id))
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return pipeErr(ctx, s, "delete for runs", err, cmds, func(i int) []string { return []string{s.keys.thread(entries[i].thread)[kMD]} })
		}
		for i, e := range entries {
			raw, err := cmds[i].Result()
			if err == redis.Nil {
				continue
			}
			key := s.keys.thread(e.thread)[kMD]
			if err != nil {
				return wrapErr(ctx, "delete for runs", err, key)
			}
			md, err := decodeMetadata(key, cpField(e.ns, e.id), []byte(raw))
			if err != nil {
				return err
			}
			if run, ok := md["run_id"].(string); ok && want[run] {
				byThread[e.thread] = append(byThread[e.thread], cpField(e.ns, e.id))
			}
		}
		if len(members) < 512 {
			break
		}
		max = "(" + members[len(members)-1]
	}
	for thread, fields := range byThread {
		if _, err := s.prune(ctx, thread, 0, fields...); err != nil {
			return err
		}
	}
	return nil
}

// SweepIndex removes the global index entries of checkpoints that no
// longer exist (their thread expired by ThreadTTL), walking the index in
// pages of 512 with one pipelined round trip each, and returns how many it
// removed. List does the same for the entries it meets, in the background
// and best effort; call SweepIndex now and then when threads expire and
// nobody lists across threads.
func (s *Store) SweepIndex(ctx context.Context) (int, error) {
	idx := s.keys.index()
	removed := 0
	if err := s.checkFormat(ctx); err != nil {
		return removed, err
	}
	max := "+"
	for {
		if err := s.live(ctx); err != nil {
			return removed, err
		}
		members, err := s.rdb.ZRevRangeByLex(ctx, idx, &redis.ZRangeBy{Min: "-", Max: max, Count: 512}).Result()
		if err != nil {
			return removed, wrapErr(ctx, "sweep index", err, idx)
		}
		entries := make([]listEntry, 0, len(members))
		for _, m := range members {
			thread, ns, id, err := parseIndexMember(idx, m)
			if err != nil {
				return removed, err
			}
			entries = append(entries, listEntry{thread, ns, id, m})
		}
		if len(entries) > 0 {
			cmds, err := s.pipeScripts(ctx, unindexScript, len(entries), func(i int) ([]string, []any) {
				e := entries[i]
				return []string{s.keys.thread(e.thread)[kCP], idx, s.keys.format()}, []any{cpField(e.ns, e.id), e.member}
			})
			if err != nil {
				return removed, err
			}
			for _, c := range cmds {
				n, err := c.Result()
				if v, ok := otherFormatReply(n); ok {
					return removed, s.otherFormat(v)
				}
				if n == int64(1) && err == nil {
					removed++
				}
			}
		}
		if len(members) < 512 {
			return removed, nil
		}
		max = "(" + members[len(members)-1]
	}
}

// checkFormat fails with ckpt.ErrFormatVersion when the layout marker
// holds another layout's version: a call that walks the global index
// before it writes (DeleteForRuns, SweepIndex) checks it first, so that
// it neither reads another layout's entries as its own nor reports their
// damage; its scripts check again, atomically with what they delete. A
// marker that is gone is not an error: the scripts put it back.
func (s *Store) checkFormat(ctx context.Context) error {
	if err := s.live(ctx); err != nil {
		return err
	}
	key := s.keys.format()
	v, err := s.rdb.Get(ctx, key).Result()
	switch {
	case err == redis.Nil:
		return nil
	case err != nil:
		return wrapErr(ctx, "read format", err, key)
	case v != formatVersion:
		return s.otherFormat(v)
	}
	return nil
}

// otherFormatReply returns the version of a script's {"format", version}
// reply.
func otherFormatReply(reply any) (string, bool) {
	r, ok := reply.([]any)
	if !ok || len(r) != 2 || r[0] != "format" {
		return "", false
	}
	v, _ := r[1].(string)
	return v, true
}
