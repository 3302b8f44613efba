package redisstore

// This file is the only place that knows key names and member bytes.
//
// Layout (format version 1), with P the key prefix (Options.Prefix):
//
//	P:format              "1": the layout version; another value is
//	                      ckpt.ErrFormatVersion. New writes it when it is
//	                      missing, and so does every script that writes:
//	                      put, pending writes, copy, delete, prune and the
//	                      index sweep (a Redis that lost its data while
//	                      the store ran lost it too); one finding another
//	                      version writes and deletes nothing.
//	P:idx                 sorted set (all scores 0, ordered by member bytes):
//	                      id | len16(thread) | thread | ns  for every
//	                      checkpoint: listing across threads, newest first.
//	P:{thread}:cp         hash  F -> checkpoint value (blob field list and
//	                      the checkpoint record; see codec.go)
//	P:{thread}:md         hash  F -> metadata (msgpack map)
//	P:{thread}:ord        sorted set of F: the head of a namespace and its
//	                      history, by one range read
//	P:{thread}:ids        sorted set of id | ns: the thread's history across
//	                      namespaces
//	P:{thread}:bl         hash  nsKey | len16(channel) | channel | version
//	                      -> blob (one channel value at one version)
//	P:{thread}:wr         hash  F | len16(task) | task | idx(4) -> write
//	P:{thread}:wx         sorted set of the wr fields, so the writes of one
//	                      checkpoint are one range read
//	P:{thread}:reply      string, expiring after replyMemoMillis: a call's
//	                      random token and the reply of its run, for copy
//	                      (kept on the destination), prune and delete, so
//	                      the call sent again (go-redis resends a command
//	                      whose reply a broken connection lost) answers as
//	                      its first run did. Not thread data: readers ignore
//	                      it and older versions never wrote it.
//	P:{thread}:puts       sorted set, expiring after replyMemoMillis: the
//	                      tokens of the thread's recent puts that stored
//	                      their checkpoint, scored by the client's clock
//	                      in ms (at most recentPutsMax, none older than
//	                      replyMemoMillis), so a put sent again answers as
//	                      its first run did even when retention removed
//	                      the checkpoint in between. Not thread data, as
//	                      the reply memo.
//
// F = nsKey | id, nsKey = len16(ns) | ns, id = the 26-character ULID string
// (whose byte order is creation order). Length prefixes keep composite
// members unambiguous and the members of one namespace (or one checkpoint)
// contiguous, so prefix ranges find them. A write's idx is stored with the
// sign bit flipped so the special negative indexes sort first.
//
// A thread has a fixed set of keys, whatever its length, so a thread TTL is
// one PEXPIRE per key. The braces make all of a thread's keys one Redis
// Cluster hash slot; the global index is elsewhere, so the store needs a
// standalone (or Sentinel-managed) Redis, not a Cluster.

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ckpt-go/ckpt"
)

// checkPrefix refuses a prefix under which a store's keys could be
// another store's. A key is P:format, P:idx or P:{thread}:kind, and no
// kind holds a ':', so within one prefix a key names one thing whatever
// the thread id holds. Across two prefixes P and P+r, a key of both would
// be P+":{"+thread+"}:"+kind with r a start of ":{thread}:kind" (the
// other keys of P allow no such r): r starts with ":{". So no prefix may
// contain ":{", and then no two prefixes share a key. (A store whose
// prefix holds ":{" is refused at New rather than read: its keys may be
// mixed with another store's.)
func checkPrefix(p string) error {
	if strings.Contains(p, ":{") {
		return fmt.Errorf("%w: prefix %q contains \":{\": its keys could be another prefix's (the threads of a store under the part before it)", ckpt.ErrInvalidConfig, p)
	}
	return nil
}

// formatVersion is the version of the layout above.
const formatVersion = "1"

// idLen is the length of a ULID string.
const idLen = 26

// threadKind names one key of a thread; threadKinds lists them all, in the
// order the scripts receive them.
type threadKind int

const (
	kCP threadKind = iota
	kMD
	kOrd
	kIDs
	kBlobs
	kWrites
	kWriteIdx
	nThreadKinds
)

var kindNames = [nThreadKinds]string{"cp", "md", "ord", "ids", "bl", "wr", "wx"}

// keys builds key names under one prefix.
type keys struct{ prefix string }

func (k keys) format() string { return k.prefix + ":format" }
func (k keys) index() string  { return k.prefix + ":idx" }

// replyMemo is the key of the reply memo of the thread's last copy,
// prune or delete.
func (k keys) replyMemo(thread string) string { return k.prefix + ":{" + thread + "}:reply" }

// recentPuts is the key of the tokens of the thread's recent puts.
func (k keys) recentPuts(thread string) string { return k.prefix + ":{" + thread + "}:puts" }

// recentPutsMax bounds the tokens recentPuts keeps: go-redis sends a put
// again within a few seconds (replyMemoMillis), so this covers a thread
// written hundreds of times a second by its workers together.
const recentPutsMax = 1024

// replyMemoMillis is how long a call's reply is kept: far longer than
// go-redis's retries of one call (MaxRetries backoffs of at most
// MaxRetryBackoff, 512 ms by default).
const replyMemoMillis = 60_000

// thread returns the thread's keys in threadKind order.
func (k keys) thread(thread string) []string {
	out := make([]string, nThreadKinds)
	for i, name := range kindNames {
		out[i] = k.prefix + ":{" + thread + "}:" + name
	}
	return out
}

func appendLen16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func len16(s string) string { return string(appendLen16(nil, s)) }

// nsKey prefixes every member of one namespace.
func nsKey(ns string) string { return len16(ns) }

// prefixEnd returns the smallest string greater than every string with the
// given prefix. Our prefixes start with a length below 0x0400 and never
// consist of 0xff bytes only, so the result always exists.
func prefixEnd(prefix string) string {
	b := []byte(prefix)
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return string(b[:i+1])
		}
	}
	return "\xff"
}

// cpField is F: the field of a checkpoint in cp and md, its member in ord.
func cpField(ns, id string) string { return nsKey(ns) + id }

// idsMember is a checkpoint's member in the thread's ids set.
func idsMember(ns, id string) string { return id + ns }

// indexMember is a checkpoint's member in the global index.
func indexMember(thread, ns, id string) string { return id + len16(thread) + ns }

// blobField keys one channel value at one version.
func blobField(ns, channel, version string) string {
	return nsKey(ns) + len16(channel) + version
}

// writeField keys one pending write.
func writeField(ns, id, taskID string, idx int) string {
	b := appendLen16([]byte(cpField(ns, id)), taskID)
	return string(binary.BigEndian.AppendUint32(b, uint32(int32(idx))^0x80000000))
}

func corrupt(key, field, format string, args ...any) error {
	return &CorruptError{Key: key, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// parseCPField splits F into namespace and id.
func parseCPField(key, f string) (ns, id string, err error) {
	if len(f) < 2+idLen {
		return "", "", corrupt(key, f, "short checkpoint member")
	}
	n := int(binary.BigEndian.Uint16([]byte(f[:2])))
	if len(f) != 2+n+idLen {
		return "", "", corrupt(key, f, "malformed checkpoint member")
	}
	return f[2 : 2+n], f[2+n:], nil
}

// parseIDsMember splits a member of a thread's ids set.
func parseIDsMember(key, m string) (ns, id string, err error) {
	if len(m) < idLen {
		return "", "", corrupt(key, m, "short history member")
	}
	return m[idLen:], m[:idLen], nil
}

// parseIndexMember splits a member of the global index.
func parseIndexMember(key, m string) (thread, ns, id string, err error) {
	if len(m) < idLen+2 {
		return "", "", "", corrupt(key, m, "short index member")
	}
	n := int(binary.BigEndian.Uint16([]byte(m[idLen : idLen+2])))
	if len(m) < idLen+2+n {
		return "", "", "", corrupt(key, m, "malformed index member")
	}
	return m[idLen+2 : idLen+2+n], m[idLen+2+n:], m[:idLen], nil
}

// parseWriteField returns the task id and index of a write field of the
// checkpoint field f.
func parseWriteField(key, f, wf string) (taskID string, idx int, err error) {
	if len(wf) < len(f)+2 || wf[:len(f)] != f {
		return "", 0, corrupt(key, wf, "write field outside its checkpoint")
	}
	rest := []byte(wf[len(f):])
	n := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+n+4 {
		return "", 0, corrupt(key, wf, "malformed write field")
	}
	return string(rest[2 : 2+n]), int(int32(binary.BigEndian.Uint32(rest[2+n:]) ^ 0x80000000)), nil
}

// callToken is a random token naming one call of a script that is not
// idempotent, for its reply memo.
func callToken() string {
	var tok [16]byte
	_, _ = rand.Read(tok[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(tok[:])
}
