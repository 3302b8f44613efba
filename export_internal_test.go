package ckpt

// Test-only access to internals, for the external tests of package ckpt_test.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// WithCompactHook returns opts with f called at each stage of the store's
// compactions.
func WithCompactHook(opts Options, f func(stage string)) Options {
	opts.tuning = &tuning{hooks: engine.Hooks{CompactStage: f}}
	return opts
}

// WithHeldApplier returns opts with the background applier held: logged
// groups stay in the log until Close (a crash leaves them there).
func WithHeldApplier(opts Options) Options {
	opts.tuning = &tuning{hooks: engine.Hooks{HoldApplier: true}}
	return opts
}

// WithRecoverStep returns opts with f called at each step of RecoverLog.
func WithRecoverStep(opts Options, f func(step string)) Options {
	opts.tuning = &tuning{recoverStep: f}
	return opts
}

// CheckInvariants checks that the store's buckets agree with each other:
// every checkpoint has its metadata, thread-order and global-index entries
// and nothing else does; every pending write belongs to a stored
// checkpoint; every blob is referenced by a checkpoint of its namespace
// unless its namespace is marked for a pending sweep; no thread bucket is
// empty.
func CheckInvariants(s *Store) error {
	return s.view(context.Background(), func(r reader) error {
		var errs []error
		bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
		indexed := map[string]bool{}
		r.Scan(bucketPath{bucketIndex}, nil, nil, false, func(k, _ []byte) error {
			id, thread, ns, err := parseIndexKey(k)
			if err != nil {
				bad("index: %v", err)
				return nil
			}
			indexed[string(k)] = true
			if r.Get(threadPath(thread, bucketCheckpoints), checkpointKey(ns, id)) == nil {
				bad("index entry %s/%q/%q without checkpoint", idString(id), thread, ns)
			}
			return nil
		})
		var threads []string
		r.Buckets(threadsRoot, nil, func(name []byte) error { threads = append(threads, string(name)); return nil })
		for _, thread := range threads {
			n := 0
			live := map[string]bool{}
			r.Scan(threadPath(thread, bucketCheckpoints), nil, nil, false, func(k, v []byte) error {
				n++
				ns, id, err := parseCheckpointKey(k)
				if err != nil {
					bad("thread %q: %v", thread, err)
					return nil
				}
				if r.Get(threadPath(thread, bucketMetadata), k) == nil {
					bad("checkpoint %s of %q has no metadata", idString(id), thread)
				}
				if r.Get(threadPath(thread, bucketOrder), orderKey(id, ns)) == nil {
					bad("checkpoint %s of %q has no order entry", idString(id), thread)
				}
				if !indexed[string(indexKey(id, thread, ns))] {
					bad("checkpoint %s of %q is not indexed", idString(id), thread)
				}
				rec, err := decodeCheckpointRecord(seedOf(thread), k, v)
				if err != nil {
					bad("checkpoint %s of %q: %v", idString(id), thread, err)
					return nil
				}
				for _, ref := range blobRefs(rec, ns) {
					live[string(ref)] = true
				}
				return nil
			})
			if n == 0 {
				bad("thread %q has no checkpoint but its bucket exists", thread)
			}
			for _, sub := range [][]byte{bucketMetadata, bucketOrder} {
				r.Scan(threadPath(thread, sub), nil, nil, false, func(k, _ []byte) error {
					key := k
					if bytes.Equal(sub, bucketOrder) {
						id, ns, _ := parseOrderKey(k)
						key = checkpointKey(ns, id)
					}
					if r.Get(threadPath(thread, bucketCheckpoints), key) == nil {
						bad("thread %q: %s entry without checkpoint", thread, sub)
					}
					return nil
				})
			}
			r.Scan(threadPath(thread, bucketWrites), nil, nil, false, func(k, _ []byte) error {
				if len(k) < 2 {
					bad("thread %q: short write key", thread)
					return nil
				}
				n := 2 + int(k[0])<<8 + int(k[1]) + idLen
				if len(k) < n || r.Get(threadPath(thread, bucketCheckpoints), k[:n]) == nil {
					bad("thread %q: pending write without checkpoint", thread)
				}
				return nil
			})
			r.Scan(threadPath(thread, bucketBlobs), nil, nil, false, func(k, _ []byte) error {
				ns, err := blobNamespace(k)
				if err != nil {
					bad("thread %q: %v", thread, err)
					return nil
				}
				if !live[string(k)] && r.Get(sweepPath, sweepKey(thread, ns)) == nil {
					bad("thread %q: blob %q referenced by no checkpoint", thread, k)
				}
				return nil
			})
		}
		for _, thread := range threads {
			live := map[string]bool{}
			r.Scan(threadPath(thread, bucketBlobs), nil, nil, false, func(k, v []byte) error {
				kind, body, err := blobKind(seedOf(thread), k, v)
				if err != nil || kind != blobListRef {
					return nil
				}
				ref, err := decodeListRef(body)
				ns, ch, _, err2 := parseBlobKey(k)
				if err != nil || err2 != nil {
					bad("thread %q: bad list reference", thread)
					return nil
				}
				live[string(segmentPrefix(ns, ch, ref.lineage))] = true
				return nil
			})
			r.Scan(threadPath(thread, bucketSegments), nil, nil, false, func(k, _ []byte) error {
				ns, ch, lin, _, err := parseSegmentKey(k)
				if err != nil {
					bad("thread %q: %v", thread, err)
					return nil
				}
				if !live[string(segmentPrefix(ns, ch, lin))] && r.Get(sweepPath, sweepKey(thread, ns)) == nil {
					bad("thread %q: list segment of lineage %d (%q) referenced by no blob", thread, lin, ch)
				}
				return nil
			})
		}
		return errors.Join(errs...)
	})
}

// PendingSweeps returns the number of namespaces marked for a blob sweep.
func PendingSweeps(s *Store) (n int) {
	_ = s.view(context.Background(), func(r reader) error {
		r.Scan(sweepPath, nil, nil, false, func(_, _ []byte) error { n++; return nil })
		return nil
	})
	return n
}

// CountBlobs returns the number of stored channel values of a thread.
func CountBlobs(s *Store, thread string) (n int) {
	_ = s.view(context.Background(), func(r reader) error {
		r.Scan(threadPath(thread, bucketBlobs), nil, nil, false, func(_, _ []byte) error { n++; return nil })
		return nil
	})
	return n
}

// ChildEnvForTest is the environment of a test's child process: this
// one's plus extra, with the race detector's exit sleep off. A -race binary
// that exits with status 0 sleeps a second first (GORACE atexit_sleep_ms,
// default 1000) so that goroutines still running can report a race; a
// child has reported its races by then (a report is printed when the race
// happens, and still makes the child fail), and that second per child was
// most of the time the multi-process tests took.
func ChildEnvForTest(extra ...string) []string {
	env := append(os.Environ(), extra...)
	return append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
}

// childEnv is ChildEnvForTest for this package's own tests.
func childEnv(extra ...string) []string { return ChildEnvForTest(extra...) }

// RaceSampleForTest is raceSample (race_rounds_test.go) for the external
// tests' single-goroutine sweeps.
func RaceSampleForTest(t *testing.T, stride int) (keep func(i int) bool) {
	t.Helper()
	return raceSample(t, stride)
}
