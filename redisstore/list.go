package redisstore

import (
	"context"
	"iter"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/redis/go-redis/v9"
)

// listPage is how many index members List reads per round trip. Between
// pages nothing is held, so memory stays bounded by one page whatever the
// history length.
const listPage = 64

// source is the sorted set List walks and how to read its members: a
// thread's namespace (ord), a thread (ids) or every thread (the index).
type source struct {
	key      string
	min, max string // ZREVRANGEBYLEX bounds
	parse    func(m string) (thread, ns, id string, err error)
}

func (s *Store) source(sel *saverkit.Selector) source {
	var before string // the canonical id text, as stored in members
	if sel.Before != nil {
		before = sel.Before.String()
	}
	switch {
	case sel.ThreadID != "" && sel.Namespace != nil:
		key := s.keys.thread(sel.ThreadID)[kOrd]
		nk := nsKey(*sel.Namespace)
		max := "(" + prefixEnd(nk)
		if before != "" {
			max = "(" + nk + before
		}
		return source{key, "[" + nk, max, func(m string) (string, string, string, error) {
			ns, id, err := parseCPField(key, m)
			return sel.ThreadID, ns, id, err
		}}
	case sel.ThreadID != "":
		key := s.keys.thread(sel.ThreadID)[kIDs]
		return source{key, "-", beforeBound(before), func(m string) (string, string, string, error) {
			ns, id, err := parseIDsMember(key, m)
			return sel.ThreadID, ns, id, err
		}}
	default:
		key := s.keys.index()
		return source{key, "-", beforeBound(before), func(m string) (string, string, string, error) {
			return parseIndexMember(key, m)
		}}
	}
}

// beforeBound: members start with the id, so every member below "(id" has
// a smaller id.
func beforeBound(before string) string {
	if before == "" {
		return "+"
	}
	return "(" + before
}

type listEntry struct{ thread, ns, id, member string }

// List yields checkpoints newest first by id, filtered by opts: one thread
// or all, one namespace or all, strictly before an id, metadata containing
// a filter, at most Limit. It reads a page of ids per round trip, then
// (with a filter) their metadata, then the matching tuples, each in one
// pipelined round trip. A checkpoint deleted between those steps is
// skipped. An error ends the sequence after being yielded once.
func (s *Store) List(ctx context.Context, opts ckpt.ListOptions) iter.Seq2[*ckpt.Tuple, error] {
	return func(yield func(*ckpt.Tuple, error) bool) {
		sel, err := saverkit.NewSelector(opts.ThreadID, opts.Namespace, opts.Before, opts.Limit, opts.Filter)
		if err != nil {
			yield(nil, err)
			return
		}
		src := s.source(sel)
		left := opts.Limit
		max := src.max
		for {
			if err := s.live(ctx); err != nil {
				yield(nil, err)
				return
			}
			members, err := s.rdb.ZRevRangeByLex(ctx, src.key, &redis.ZRangeBy{Min: src.min, Max: max, Count: listPage}).Result()
			if err != nil {
				yield(nil, wrapErr(ctx, "list", err, src.key))
				return
			}
			entries := make([]listEntry, 0, len(members))
			for _, m := range members {
				thread, ns, id, err := src.parse(m)
				if err != nil {
					yield(nil, err)
					return
				}
				if sel.Namespace != nil && *sel.Namespace != ns {
					continue
				}
				entries = append(entries, listEntry{thread, ns, id, m})
			}
			if sel.Filter != nil {
				if entries, err = s.filter(ctx, entries, sel.Filter); err != nil {
					yield(nil, err)
					return
				}
			}
			if opts.Limit > 0 && len(entries) > left {
				entries = entries[:left]
			}
			tuples, err := s.loadMany(ctx, entries, src.key == s.keys.index())
			for _, t := range tuples {
				if !yield(t, nil) {
					return
				}
			}
			if err != nil {
				yield(nil, err)
				return
			}
			left -= len(tuples)
			if len(members) < listPage || opts.Limit > 0 && left <= 0 {
				return
			}
			max = "(" + members[len(members)-1]
		}
	}
}

// filter keeps the entries whose metadata contains filter.
func (s *Store) filter(ctx context.Context, entries []listEntry, filter map[string]any) ([]listEntry, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(entries))
	for i, e := range entries {
		cmds[i] = pipe.HGet(ctx, s.keys.thread(e.thread)[kMD], cpField(e.ns, e.id))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, pipeErr(ctx, s, "list metadata", err, cmds, func(i int) []string { return []string{s.keys.thread(entries[i].thread)[kMD]} })
	}
	kept := entries[:0]
	for i, e := range entries {
		raw, err := cmds[i].Result()
		if err == redis.Nil {
			continue // deleted since the page was read
		}
		key := s.keys.thread(e.thread)[kMD]
		if err != nil {
			return nil, wrapErr(ctx, "list metadata", err, key)
		}
		md, err := decodeMetadata(key, cpField(e.ns, e.id), []byte(raw))
		if err != nil {
			return nil, err
		}
		if saverkit.MatchMetadata(md, filter) {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

// loadMany reads the entries' tuples in one pipelined round trip. Entries
// whose checkpoint is gone are skipped; when they came from the global
// index (unindex), their index entries are removed in the background
// (their thread expired; unindexLater).
func (s *Store) loadMany(ctx context.Context, entries []listEntry, unindex bool) ([]*ckpt.Tuple, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	cmds, err := s.pipeScripts(ctx, getScript, len(entries), func(i int) ([]string, []any) {
		e := entries[i]
		return s.keys.thread(e.thread), []any{cpField(e.ns, e.id), nsKey(e.ns), prefixEnd(nsKey(e.ns))}
	})
	if err != nil {
		return nil, err
	}
	out := make([]*ckpt.Tuple, 0, len(entries))
	var gone []listEntry
	for i, e := range entries {
		keys := s.keys.thread(e.thread)
		res, err := cmds[i].Result()
		if err != nil {
			return out, wrapErr(ctx, "list", err, s.blame(ctx, err, keys)...)
		}
		reply, _ := res.([]any)
		t, err := decodeTuple(keys, e.thread, e.ns, reply)
		if err != nil {
			return out, err
		}
		if t == nil {
			gone = append(gone, e)
			continue
		}
		out = append(out, t)
	}
	if unindex && len(gone) > 0 {
		s.unindexLater(gone)
	}
	return out, nil
}

// unindexTimeout bounds a background removal of index entries: one
// pipelined round trip, which waits only while Redis holds writes back.
const unindexTimeout = 10 * time.Second

// unindexLater removes the global index entries of gone checkpoints that
// List met, in a goroutine, at most one at a time per Store (entries met
// while one runs are left to a later List or SweepIndex). The removal
// writes, and a read must neither wait for a write (Redis holds writes
// back during CLIENT PAUSE WRITE and a FAILOVER) nor fail for one (a
// primary demoted to a read-only replica refuses writes): List's answer
// skips the entries either way, and their removal is a cleanup, so its
// errors are dropped. Close waits for it (closing the connections ends a
// removal that waits).
func (s *Store) unindexLater(gone []listEntry) {
	s.cleanup.mu.Lock()
	defer s.cleanup.mu.Unlock()
	if s.cleanup.closed || s.cleanup.running {
		return
	}
	s.cleanup.running = true
	s.cleanup.wg.Add(1)
	go func() {
		defer s.cleanup.wg.Done()
		defer func() {
			s.cleanup.mu.Lock()
			s.cleanup.running = false
			s.cleanup.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), unindexTimeout)
		defer cancel()
		_, _ = s.pipeScripts(ctx, unindexScript, len(gone), func(i int) ([]string, []any) {
			e := gone[i]
			return []string{s.keys.thread(e.thread)[kCP], s.keys.index(), s.keys.format()}, []any{cpField(e.ns, e.id), e.member}
		})
	}()
}

// cleanup is the state of the background removal of index entries
// (unindexLater).
type cleanup struct {
	mu      sync.Mutex
	closed  bool // Close was called: start no more
	running bool
	wg      sync.WaitGroup
}

// waitCleanup waits for the background removal of index entries, if one
// runs (for tests).
func (s *Store) waitCleanup() { s.cleanup.wg.Wait() }

// pipeScripts runs n calls of one script in one pipelined round trip (by
// hash). If Redis lost its script cache (a restart), it loads the script
// and tries once more.
func (s *Store) pipeScripts(ctx context.Context, sc *redis.Script, n int, call func(i int) ([]string, []any)) ([]*redis.Cmd, error) {
	for attempt := 0; ; attempt++ {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, n)
		keysOf := make([][]string, n)
		for i := range n {
			keys, args := call(i)
			keysOf[i] = keys
			if s.readScript(sc) {
				cmds[i] = sc.EvalShaRO(ctx, pipe, keys, args...)
			} else {
				cmds[i] = sc.EvalSha(ctx, pipe, keys, args...)
			}
		}
		_, err := pipe.Exec(ctx)
		if err != nil && attempt == 0 && redis.HasErrorPrefix(err, "NOSCRIPT") {
			if err := sc.Load(ctx, s.rdb).Err(); err != nil {
				return nil, wrapErr(ctx, "load script", err)
			}
			continue
		}
		if err != nil && err != redis.Nil {
			return nil, pipeErr(ctx, s, "pipelined scripts", err, cmds, func(i int) []string { return keysOf[i] })
		}
		return cmds, nil
	}
}

// pipeErr wraps the error of a pipeline with the keys of its first failed
// command (keys(i) are those of cmds[i]; blame narrows them to the one of
// the wrong type), so that the CorruptError names the damaged key.
func pipeErr[C redis.Cmder](ctx context.Context, s *Store, op string, err error, cmds []C, keys func(i int) []string) error {
	for i, c := range cmds {
		if cerr := c.Err(); cerr != nil && cerr != redis.Nil {
			return wrapErr(ctx, op, cerr, s.blame(ctx, cerr, keys(i))...)
		}
	}
	return wrapErr(ctx, op, err)
}
