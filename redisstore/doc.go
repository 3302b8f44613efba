// Package redisstore is a ckpt.Saver on Redis, for several worker
// processes (on several machines) sharing threads. It has the semantics of
// the embedded bbolt store (checked by the same checkpointtest kit): only
// changed channels are stored (blobs keyed by thread, namespace, channel
// and version; a version names one value for ever, so a put storing other
// bytes under a stored (channel, version) fails with a
// *ckpt.VersionConflictError matching ckpt.ErrVersionReused and writes
// nothing), values are the same msgpack bytes, pending writes keep the
// first regular write and let special channels replace, a put's parent
// must exist (a deleted thread is not resurrected by a late write), and
// ckpt.WriteOptions.IfHead is a compare-and-set on the thread head that
// holds across processes, because the check and the write run in one Lua
// script. Argument checks, ids, list selectors, metadata filters and the
// special-write indexes are package saverkit's, shared with the bbolt store.
//
// # Durability
//
// A put is acknowledged when Redis has executed its script; what survives
// a crash after that is decided by the server's persistence settings (the
// store cannot change them per call, so ckpt.WriteOptions.Durability is
// ignored):
//
//   - appendonly no (RDB snapshots or nothing): an acknowledged put lives in
//     memory only until the next snapshot; a restart or crash of
//     redis-server loses every put since then.
//   - appendonly yes, appendfsync everysec (Redis's default for AOF): the
//     put is written to the AOF (not fsync'd) before the reply, and fsync'd
//     within about a second. A crash of redis-server alone loses nothing;
//     a crash of the machine (power, kernel) loses up to about one second
//     of acknowledged puts. When the disk stalls an fsync, Redis postpones
//     AOF writes for up to two seconds while still replying, and then even
//     a redis-server crash can lose that much.
//   - appendonly yes, appendfsync always: the AOF is written and fsync'd
//     before the reply leaves the server (Redis holds replies behind a
//     write barrier), so an acknowledged put survives a redis-server crash
//     and a power cut (as far as the disk honours fsync).
//
// Replication is asynchronous: a failover to a replica can lose puts the
// old primary acknowledged, whatever the AOF setting. Through Sentinel
// (Options.Failover) the store follows the primary across failovers;
// while one runs, calls fail with ErrUnavailable, as they do when no
// Sentinel names the primary.
//
// A Redis that loses its data while stores run (a restart without
// persistence) loses the layout marker (P:format) with it: every put,
// pending-writes call and copy puts it back before writing, so the layout
// of what the running stores write stays marked, and one that finds
// another layout's marker (another build's New took the emptied prefix)
// fails with ckpt.ErrFormatVersion and writes nothing.
//
// Redis must not evict the store's keys: run it with maxmemory-policy
// noeviction (the default). New refuses a Redis with another policy
// (ckpt.ErrInvalidConfig; volatile-* too, as every key of a thread with a
// ThreadTTL may be evicted), when Redis lets it read the setting (CONFIG
// not renamed or denied); a policy changed later is not seen. New also
// refuses a replica (ErrUnavailable): a writable one (replica-read-only
// no) would drop the puts it acknowledged at its next sync. A primary
// demoted after New is not seen either, unless read-only (READONLY:
// ErrUnavailable).
//
// # Errors
//
// Unreachable Redis: ErrUnavailable (a write that fails so may or may not
// have been applied); a server at the address that does not speak the
// Redis protocol (an HTTP server, say) is ErrNotRedis, which is
// ErrUnavailable too. So are the replies of a Redis that cannot serve the
// call now, once go-redis's retries are spent: LOADING (loading its data
// after a restart), READONLY (a replica: after a failover the address may
// name the old primary; reads go on there), MASTERDOWN, BUSY, TRYAGAIN.
// GetTuple and List run read-only scripts (EVALSHA_RO, Redis 7.0+), so
// they go on while Redis holds writes back (CLIENT PAUSE WRITE, FAILOVER).
//
// Redis at its maxmemory: ErrOutOfMemory (also ckpt.ErrDiskFull; nothing
// of the call written, retention frees room). A value or key not as the
// store wrote it: a *CorruptError naming the key (errors.Is
// ckpt.ErrCorrupt); a writing
// call that meets a key of another Redis type than the store writes there
// fails so before its first write, and writes nothing. Context
// deadlines and cancellation end a call with the context's error; like a
// network failure, that leaves a write's outcome unknown (read it back).
//
// When Redis was down long enough for PoolSize dials in a row to fail
// (each after DialerRetries attempts), go-redis stops dialing and answers
// every call with its last dial error (ErrUnavailable) while a probe
// dials once a second: calls may go on failing so for up to about a
// second after Redis is back. The second is fixed in go-redis (its pool's
// tryDial, v9.23; no option shortens it: a larger PoolSize only delays
// the breaker). Retry ErrUnavailable with a backoff of your own.
//
// go-redis resends a command when the connection breaks before its reply
// (Options.Redis.MaxRetries, default 3). Every script tolerates that: a
// resent put answers as its first run did (its call's token is kept in
// the thread's recent puts for a minute), even when another worker's put
// or a Prune removed its checkpoint in between: not ErrConflict, not
// ErrNotFound, and no second checkpoint; copies, prunes and deletes keep
// their reply for the run sent again; pending writes are idempotent.
package redisstore
