package redisstore

// New's checks of the server it connects to (no evicting policy, the
// primary, the layout marker, read-only scripts) and the errors of a
// prefix holding another layout.

import (
	"context"
	"errors"
	"fmt"

	"github.com/ckpt-go/ckpt"
	"github.com/redis/go-redis/v9"
)

// init checks the server New connected to and loads the scripts.
func (s *Store) init(ctx context.Context) error {
	if err := s.checkEviction(ctx); err != nil {
		return err
	}
	if err := s.checkPrimary(ctx); err != nil {
		return err
	}
	key := s.keys.format()
	if err := s.rdb.SetNX(ctx, key, formatVersion, 0).Err(); err != nil {
		return wrapErr(ctx, "connect to "+s.rdb.Options().Addr, err, key)
	}
	v, err := s.rdb.Get(ctx, key).Result()
	if err != nil {
		return wrapErr(ctx, "read format", err, key)
	}
	if v != formatVersion {
		return fmt.Errorf("%w: redis key %q holds layout version %q, this build reads %q", ckpt.ErrFormatVersion, key, v, formatVersion)
	}
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return wrapErr(ctx, "load scripts", err)
		}
	}
	// A read of no checkpoint tells whether Redis has EVALSHA_RO.
	err = getScript.RunRO(ctx, s.rdb, s.keys.thread(""), "", nsKey(""), prefixEnd(nsKey(""))).Err()
	var rerr redis.Error
	switch {
	case err == nil:
		s.readOnly = true
	case errors.As(err, &rerr) && !notReady(rerr.Error()):
		// unknown command (Redis before 7.0), or denied by an ACL
	default:
		return wrapErr(ctx, "probe read-only scripts", err)
	}
	return nil
}

// readScript reports whether sc only reads (the get script), so that it
// runs read-only when Redis can (Store.readOnly).
func (s *Store) readScript(sc *redis.Script) bool { return s.readOnly && sc == getScript }

// otherFormat is the error of a writing script that found the layout
// marker holding version v: another build took the prefix (after Redis
// lost its data, which the writing scripts meet by putting the marker
// back, see marked in scripts.go), and nothing was written.
func (s *Store) otherFormat(v string) error {
	return fmt.Errorf("%w: redis key %q holds layout version %q, this build writes %q (nothing written)", ckpt.ErrFormatVersion, s.keys.format(), v, formatVersion)
}

// checkEviction refuses a Redis whose maxmemory-policy may evict keys:
// under memory pressure it would drop keys of the store, acknowledged
// writes with them, and a thread that lost some of its keys reads wrong
// (a blob evicted reads as a channel never written). volatile-* policies
// evict only keys with an expiry, but those are every key of a thread
// with a ThreadTTL (of any worker), so they are refused too. A Redis that
// does not let the store read its configuration (CONFIG renamed or
// denied by an ACL) cannot be checked and is accepted; so is a policy
// changed after New (docs/redis.md: run Redis with noeviction).
func (s *Store) checkEviction(ctx context.Context) error {
	cfg, err := s.rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return s.unlessRefused(ctx, err)
	}
	if p, ok := cfg["maxmemory-policy"]; ok && p != "noeviction" {
		return fmt.Errorf("%w: redis at %s has maxmemory-policy %s: it may evict the store's keys, losing acknowledged writes; set maxmemory-policy noeviction (at its maxmemory, writes then fail with ErrOutOfMemory and nothing is lost)", ckpt.ErrInvalidConfig, s.rdb.Options().Addr, p)
	}
	return nil
}

// checkPrimary refuses a replica: a read-only one refuses writes anyway,
// and a writable one (replica-read-only no) keeps them only until its next
// sync with its primary, acknowledged puts lost. ErrUnavailable: the
// address does not name the primary (as after a failover). A Redis that
// denies ROLE cannot be checked and is accepted; so is a primary demoted
// after New (a writable replica then loses the puts it takes).
func (s *Store) checkPrimary(ctx context.Context) error {
	role, err := s.rdb.Do(ctx, "ROLE").Slice()
	if err != nil {
		return s.unlessRefused(ctx, err)
	}
	if len(role) > 0 && role[0] != "master" {
		return fmt.Errorf("%w: redis at %s is a %v, not the primary: the store writes, and a replica drops what it takes at its next sync", ErrUnavailable, s.rdb.Options().Addr, role[0])
	}
	return nil
}

// unlessRefused is the error of a query New checks the server with: nil
// when Redis refused the command itself (renamed, or denied by an ACL: the
// store cannot tell, and accepts), else the connection's error.
func (s *Store) unlessRefused(ctx context.Context, err error) error {
	var rerr redis.Error
	if errors.As(err, &rerr) && !notReady(rerr.Error()) {
		return nil
	}
	return wrapErr(ctx, "connect to "+s.rdb.Options().Addr, err)
}
