package redisstore

import (
	"cmp"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/redis/go-redis/v9"
)

// Options configure New.
type Options struct {
	// Addr is the Redis address (host:port), used when Redis is nil;
	// empty means go-redis's default, localhost:6379.
	Addr string
	// Redis passes go-redis's own client options through (address,
	// password, TLS, pool size, timeouts); its Addr, when empty, is taken
	// from Addr. ContextTimeoutEnabled is always set, so context deadlines
	// bound every call.
	Redis *redis.Options
	// Failover, when set, connects through Redis Sentinel: go-redis's
	// failover client asks the Sentinels for the primary of MasterName
	// and follows it across failovers (Addr and Redis are then unused).
	// ReplicaOnly is refused: the store writes. ContextTimeoutEnabled is
	// always set.
	Failover *redis.FailoverOptions
	// Prefix starts every key of the store; several stores can share one
	// Redis under different prefixes. Empty means "ckpt". It must not
	// contain ":{" (ckpt.ErrInvalidConfig): the keys of a store under
	// p+":{x}" would be those of some threads of a store under p.
	Prefix string
	// ThreadTTL, when positive, makes a thread expire (all its keys, by
	// Redis expiry) after this long without a write; every put and
	// pending-writes call starts the time again. The global index entries
	// of expired threads are removed when List meets them (in the
	// background, best effort: a List never waits or fails for it), or by
	// SweepIndex. Workers of one thread with different settings: the
	// thread expires ThreadTTL after the last write of a worker that has
	// one; a write of a worker without one neither starts that time again
	// nor ends it, and a key it makes takes the thread's expiry, so the
	// thread still expires whole.
	ThreadTTL time.Duration
	// KeepLast, when positive, keeps only the newest KeepLast checkpoints
	// of each thread and namespace: every put removes the older ones, with
	// their pending writes and the blobs nothing else reads, in the same
	// script.
	KeepLast int
}

// Store is a ckpt.Saver on Redis. It is safe for concurrent use, and any
// number of Stores in any number of processes can share one Redis.
type Store struct {
	rdb      *redis.Client
	keys     keys
	ttl      time.Duration
	keepLast int
	ids      *saverkit.IDSource
	closed   atomic.Bool
	// readOnly: Redis has EVALSHA_RO (7.0+), which runs the read
	// scripts (readScript) also while Redis holds writes back (CLIENT
	// PAUSE WRITE, FAILOVER) and on replicas; older Redis runs them by
	// EVALSHA.
	readOnly bool
	cleanup  cleanup
}

var _ ckpt.Saver = (*Store)(nil)

// New connects to Redis, checks (or writes) the layout version under the
// prefix and loads the scripts. Unreachable Redis is ErrUnavailable; a
// prefix holding another layout version is ckpt.ErrFormatVersion.
func New(ctx context.Context, opts Options) (*Store, error) {
	ro := &redis.Options{Addr: opts.Addr}
	if opts.Redis != nil {
		copied := *opts.Redis
		ro = &copied
		ro.Addr = cmp.Or(ro.Addr, opts.Addr)
	}
	ro.ContextTimeoutEnabled = true
	if opts.KeepLast < 0 || opts.ThreadTTL < 0 {
		return nil, fmt.Errorf("%w: negative KeepLast or ThreadTTL", ckpt.ErrInvalidConfig)
	}
	if err := checkPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	var rdb *redis.Client
	if opts.Failover != nil {
		fo := *opts.Failover
		if fo.ReplicaOnly {
			return nil, fmt.Errorf("%w: Failover.ReplicaOnly: the store writes to the primary", ckpt.ErrInvalidConfig)
		}
		fo.ContextTimeoutEnabled = true
		rdb = redis.NewFailoverClient(&fo)
	} else {
		rdb = redis.NewClient(ro)
	}
	s := &Store{
		rdb:      rdb,
		keys:     keys{prefix: cmp.Or(opts.Prefix, "ckpt")},
		ttl:      opts.ThreadTTL,
		keepLast: opts.KeepLast,
		ids:      saverkit.NewIDSource(),
	}
	if err := s.init(ctx); err != nil {
		_ = s.rdb.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connections. Calls after Close fail with ckpt.ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return ckpt.ErrClosed
	}
	s.cleanup.mu.Lock()
	s.cleanup.closed = true
	s.cleanup.mu.Unlock()
	err := s.rdb.Close()
	s.cleanup.wg.Wait()
	return err
}

// Client returns the underlying go-redis client (for health checks and
// tests); do not change the store's keys through it.
func (s *Store) Client() *redis.Client { return s.rdb }

func (s *Store) live(ctx context.Context) error {
	if s.closed.Load() {
		return ckpt.ErrClosed
	}
	return ctx.Err()
}

// run runs a script and returns its reply as a list.
func (s *Store) run(ctx context.Context, sc *redis.Script, op string, keys []string, args ...any) ([]any, error) {
	if err := s.live(ctx); err != nil {
		return nil, err
	}
	run := sc.Run
	if s.readScript(sc) {
		run = sc.RunRO
	}
	res, err := run(ctx, s.rdb, keys, args...).Result()
	if err != nil {
		return nil, wrapErr(ctx, op, err, s.blame(ctx, err, keys)...)
	}
	list, ok := res.([]any)
	if !ok {
		return nil, corrupt(keys[0], "", "%s: script replied %T", op, res)
	}
	return list, nil
}

func (s *Store) ttlMillis() int64 { return s.ttl.Milliseconds() }

func (s *Store) threadKeys(thread string) []string {
	return append(s.keys.thread(thread), s.keys.index())
}

// DeleteThread removes every checkpoint, pending write, channel value and
// index entry of the thread, in all namespaces, in one script. Deleting an
// unknown thread is not an error.
func (s *Store) DeleteThread(ctx context.Context, threadID string) error {
	if err := saverkit.CheckThread(threadID); err != nil {
		return err
	}
	_, err := s.deleteThread(ctx, "delete thread", threadID)
	return err
}

// deleteThread runs the delete script on one thread and returns how many
// checkpoints it removed.
func (s *Store) deleteThread(ctx context.Context, op, thread string) (int, error) {
	keys := append(s.threadKeys(thread), s.keys.replyMemo(thread), s.keys.format())
	if err := s.live(ctx); err != nil {
		return 0, err
	}
	res, err := deleteScript.Run(ctx, s.rdb, keys, len16(thread), callToken(), replyMemoMillis).Result()
	if err != nil {
		return 0, wrapErr(ctx, op, err, s.blame(ctx, err, keys)...)
	}
	switch r := res.(type) {
	case int64:
		return int(r), nil
	case []any:
		if status, detail, err := statusOf(keys[kCP], r); err == nil && status == "format" {
			return 0, s.otherFormat(detail)
		}
	}
	return 0, corrupt(keys[kCP], "", "%s script replied %v", op, res)
}
