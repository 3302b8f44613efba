package redisstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
// changed after New (README: run Redis with noeviction).
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
	if generated {
		id = s.ids.Next(now).String()
	} else {
		u, err := saverkit.ParseID("checkpoint id", cp.ID)
		if err != nil {
			return ckpt.Config{}, err
		}
		id = u.String()
		if err := saverkit.CheckParent(id, cfg.CheckpointID); err != nil {
			return ckpt.Config{}, err
		}
		s.ids.Observe(u)
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
	for ch, ver := range rec.Versions {
		if err := saverkit.CheckChannel(ch, ver); err != nil {
			return ckpt.Config{}, err
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
			id = s.ids.Next(time.Now()).String()
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
