package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/ckpt-go/ckpt"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable: Redis could not be reached or the connection broke. The
// returned error wraps it and the network error. A write that fails this
// way may or may not have been applied: read the thread back to know.
var ErrUnavailable = errors.New("redisstore: redis unavailable")

// ErrNotRedis: the server at the address does not speak the Redis
// protocol (an HTTP server, or a port another program took after Redis
// went away). errors.Is(err, ErrUnavailable) holds too: Redis is not
// reachable there, and a write that fails so may or may not have been
// applied by the Redis that was there before.
var ErrNotRedis error = notRedis{}

type notRedis struct{}

func (notRedis) Error() string {
	return "redisstore: the server does not speak the Redis protocol (not a Redis server?)"
}
func (notRedis) Is(target error) bool { return target == ErrUnavailable }

// protocolError reports an error of go-redis's reply parser: the peer
// sent bytes that are not a Redis reply. go-redis has no type for these
// (fmt.Errorf in internal/proto), so they are known by their text.
func protocolError(err error) bool {
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return false // a reply Redis sent: the protocol held
	}
	msg := err.Error()
	for _, p := range []string{"redis: can't parse", "redis: invalid reply", "redis: got ", "redis: RESP3 map key"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// ErrOutOfMemory: Redis refused a write at its maxmemory (with the
// noeviction policy docs/redis.md asks for). Nothing of the call was
// written: Redis refuses a script's first write, and lets a script that
// has written go on. Deletes still run, so retention (KeepLast, Prune,
// DeleteThread) frees room and writes go on. errors.Is(err,
// ckpt.ErrDiskFull) holds too: the same "no room, nothing stored, the
// store goes on" as the file store's full disk.
var ErrOutOfMemory error = outOfMemory{}

type outOfMemory struct{}

func (outOfMemory) Error() string {
	return "redisstore: redis refused the write at its maxmemory (nothing written)"
}
func (outOfMemory) Is(target error) bool { return target == ckpt.ErrDiskFull }

// CorruptError reports a Redis key whose content is not what the store
// wrote: a value that does not decode, a member of the wrong shape, or a
// key of the wrong Redis type. errors.Is(err, ckpt.ErrCorrupt) holds.
type CorruptError struct {
	Key    string // the Redis key
	Field  string // the hash field or set member, "" for the whole key
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%v: redis key %q: %s", ckpt.ErrCorrupt, e.Key, e.Reason)
	}
	return fmt.Sprintf("%v: redis key %q field %q: %s", ckpt.ErrCorrupt, e.Key, e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ckpt.ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ckpt.ErrCorrupt }

// wrapErr turns an error of a Redis call into the store's errors: the
// context's own error when it ended, ErrUnavailable for network failures,
// ckpt.ErrClosed after Close, a CorruptError naming the keys for a key of
// the wrong type. op says what was being done; keys are the keys involved.
func wrapErr(ctx context.Context, op string, err error, keys ...string) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("redisstore: %s: %w (%v)", op, cerr, err)
	}
	if errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redisstore: %s: %w", op, ckpt.ErrClosed)
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "OOM ") {
		return fmt.Errorf("%w: %s: %w", ErrOutOfMemory, op, err)
	}
	if strings.HasPrefix(err.Error(), "redis: all sentinels specified in configuration are unreachable") {
		// Options.Failover: no Sentinel named the primary (none answered,
		// or none watches the name): go-redis's untyped error.
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	if errors.As(err, &rerr) && notReady(rerr.Error()) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	if errors.As(err, &rerr) && strings.Contains(rerr.Error(), "WRONGTYPE") {
		return &CorruptError{Key: strings.Join(keys, " "), Reason: fmt.Sprintf("%s: a key holds the wrong Redis type: %v", op, err)}
	}
	if protocolError(err) {
		return fmt.Errorf("%w: %s: %w", ErrNotRedis, op, err)
	}
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, redis.ErrPoolTimeout) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// notReady reports an error reply of a Redis that cannot serve the call
// now, and did none of it: loading its data (LOADING), a replica (READONLY:
// after a failover the address may name the old primary), a replica cut
// from its primary (MASTERDOWN), another script running past its time
// (BUSY), a slot moving (TRYAGAIN). go-redis retries these
// (MaxRetries); when it gives up, the call is ErrUnavailable: retry later.
func notReady(msg string) bool {
	for _, p := range []string{"LOADING ", "READONLY ", "MASTERDOWN ", "BUSY ", "TRYAGAIN "} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// wrongType reports a key that a writing script found holding another
// Redis type than the store writes there (the script wrote nothing).
func wrongType(op, key string) error {
	return &CorruptError{Key: key, Reason: op + ": the key holds another Redis type than the store writes there (nothing was written)"}
}

// storeType is the Redis type the store writes at key, told by the key's
// last part (keys.go).
func storeType(key string) string {
	switch key[strings.LastIndexByte(key, ':')+1:] {
	case "cp", "md", "bl", "wr":
		return "hash"
	case "ord", "ids", "wx", "idx", "puts":
		return "zset"
	}
	return "string" // format, reply memos
}

// blame narrows the keys of a failed call, when it failed with WRONGTYPE,
// to those holding another Redis type than the store writes there (one
// pipelined TYPE per key, on this error path only), so that the
// CorruptError names the damaged key. Otherwise, or when it cannot tell,
// it returns keys unchanged.
func (s *Store) blame(ctx context.Context, err error, keys []string) []string {
	var rerr redis.Error
	if len(keys) < 2 || !errors.As(err, &rerr) || !strings.Contains(rerr.Error(), "WRONGTYPE") || ctx.Err() != nil {
		return keys
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StatusCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Type(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return keys
	}
	var bad []string
	for i, k := range keys {
		if t := cmds[i].Val(); t != "none" && t != storeType(k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return keys
	}
	return bad
}
