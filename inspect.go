package ckpt

// Looking into a store without knowing its threads in advance: thread
// summaries, storage statistics, id prefixes (verify.go has the consistency
// check). These serve the ckpt command and operators; they read through the
// reader interface only.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// ThreadInfo summarises one thread.
type ThreadInfo struct {
	ThreadID string
	// Namespaces holds the thread's checkpoint namespaces, sorted; "" is the
	// root namespace.
	Namespaces    []string
	Checkpoints   int
	PendingWrites int
	// NewestID and NewestTime describe the thread's newest checkpoint in any
	// namespace.
	NewestID   string
	NewestTime time.Time
	// Bytes is the size of the thread's keys and values (its logical size;
	// the file adds page overhead).
	Bytes int64
}

// threadsPage is how many threads Threads summarises per read transaction.
const threadsPage = 32

// Threads yields a summary of every thread, in thread id order. It reads a
// few threads per read transaction, so a caller may write while iterating.
// A thread whose own records or pages are damaged is yielded with its id
// (and what could be read of it) and the error (ErrCorrupt), and the walk
// goes on to the next thread: the others read as in a sound file. Any
// other error (a damaged list of threads, a closed store) is yielded with
// an empty ThreadInfo and ends the walk.
func (s *Store) Threads(ctx context.Context) iter.Seq2[ThreadInfo, error] {
	return func(yield func(ThreadInfo, error) bool) {
		var after []byte
		for {
			var page []ThreadInfo
			var errs []error
			err := s.view(ctx, func(r reader) error {
				if err := dirCycle(r, !s.unlisted, "threads"); err != nil {
					return err
				}
				return r.Buckets(bucketPath{bucketThreads}, after, func(name []byte) error {
					info, err := summariseOwn(r, string(name), !s.untallied, !s.unlisted)
					if err != nil && (!errors.Is(err, ErrCorrupt) || !threadFound(r, string(name))) {
						// Not found by its name: out of place in a damaged
						// page of the list, where the walk would go on from
						// it past the threads after it.
						return err
					}
					info.ThreadID = string(name)
					page, errs = append(page, info), append(errs, err)
					after = bytes.Clone(name)
					return keepScanning(len(page) < threadsPage)
				})
			})
			for i, info := range page {
				if !yield(info, errs[i]) {
					return
				}
			}
			if err != nil {
				yield(ThreadInfo{}, err)
				return
			}
			if len(page) < threadsPage {
				return
			}
		}
	}
}

// Thread returns the summary of one thread; an unknown thread is
// ErrNotFound.
func (s *Store) Thread(ctx context.Context, threadID string) (ThreadInfo, error) {
	if err := validThread(threadID); err != nil {
		return ThreadInfo{}, err
	}
	var info ThreadInfo
	err := s.view(ctx, func(r reader) (err error) {
		if !r.Exists(bucketPath{bucketThreads, []byte(threadID)}) {
			if err := threadHidden(r, threadID); err != nil {
				return err
			}
			return fmt.Errorf("%w: thread %q", ErrNotFound, threadID)
		}
		info, err = summariseThread(r, threadID, !s.untallied, !s.unlisted)
		return err
	})
	return info, err
}

// threadFound tells whether thread's bucket is found by its name. A
// read-only handle's damaged bucket (engine's checkDamaged) is found: the
// lookup came to its name, its pages are the damage, which is that
// thread's ErrCorrupt alone; the check, unguarded, ended the walk of
// every thread at it (TestH237LoggedDeleteOfTheDamagedThread).
func threadFound(r reader, thread string) bool {
	found := false
	damaged := engine.OpensDamaged(func() { found = r.Exists(threadBucket(thread)) })
	return found || damaged
}

// dirCycle returns ErrCorrupt naming the directory of threads when a
// read-only handle found its pages leading into a cycle (engine's
// checkDamaged), in a file that lists namespaces there (lists): every
// thread's read looks its namespaces up in it, so it is damage outside
// any one thread, which fails a walk over the threads as a whole, saying
// where, instead of naming each thread damaged (their own records read).
func dirCycle(r reader, lists bool, what string) error {
	if !lists {
		return nil
	}
	return engine.Guard(what+": the directory of threads", func() error { r.Exists(dirPath); return nil })
}

// summariseOwn is summariseThread under a guard of its own: a read-only
// handle's damaged bucket (one whose pages lead into a cycle) panics as
// it is opened (engine's checkDamaged), which becomes this thread's
// ErrCorrupt instead of ending the caller's walk of every thread.
func summariseOwn(r reader, thread string, tallied, lists bool) (info ThreadInfo, err error) {
	err = engine.Guard("read thread "+strconv.Quote(thread), func() error {
		info, err = summariseThread(r, thread, tallied, lists)
		return err
	})
	return info, err
}

// summariseThread summarises thread. tallied: the file keeps write
// tallies (format 7 on), which the count of pending writes is checked
// against (threadCensus); lists: the file lists namespaces (format 8),
// each of which must be found (namespacesCounted).
func summariseThread(r reader, thread string, tallied, lists bool) (ThreadInfo, error) {
	info := ThreadInfo{ThreadID: thread}
	if !r.Exists(threadBucket(thread)) {
		// A name the walk of the threads found and its lookup does not:
		// out of order in a damaged page (it would count as empty, and a
		// walk going on from it would pass over the threads after it).
		return info, fmt.Errorf("%w: thread %q: its name is out of place in the list of threads (a damaged page)", ErrCorrupt, thread)
	}
	nss := map[string]bool{}
	var newest []byte
	if err := r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		_, ns, err := parseOrderKey(k)
		if err != nil {
			return fmt.Errorf("thread %q: %w", thread, err)
		}
		nss[ns] = true
		info.Checkpoints++
		newest = k
		return nil
	}); err != nil {
		return info, err
	}
	if lists {
		if err := namespacesCounted(r, thread, nss); err != nil {
			return info, err
		}
	}
	for ns := range nss {
		info.Namespaces = append(info.Namespaces, ns)
	}
	sort.Strings(info.Namespaces)
	if newest != nil {
		id, ns, _ := parseOrderKey(newest)
		info.NewestID = idString(id)
		key := checkpointKey(ns, id)
		rec, err := decodeCheckpointRecord(seedOf(thread), key, r.Get(threadPath(thread, bucketCheckpoints), key))
		if err != nil {
			return info, fmt.Errorf("thread %q checkpoint %s: %w", thread, info.NewestID, err)
		}
		info.NewestTime = time.Unix(0, rec.TS).UTC()
	}
	// Counted over the buckets of the names the store writes: one of
	// another name is a damaged one, whose content the counts would miss.
	if err := knownThreadBuckets(r, thread); err != nil {
		return info, fmt.Errorf("thread %q: %w", thread, err)
	}
	// The counts are checked as the reads check what they read: a record
	// damage hid left them short, with no error (threadCensus).
	ts := seedOf(thread)
	census := newThreadCensus(r, thread, tallied, false, true)
	for _, sub := range threadSubBuckets {
		if err := r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
			if err := summedIntact(sub, ts, k, v, tallied); err != nil {
				return fmt.Errorf("thread %q: %w", thread, err)
			}
			info.Bytes += int64(len(k) + len(v))
			if bytes.Equal(sub, bucketWrites) {
				info.PendingWrites++
			}
			return census.add(sub, k, v)
		}); err != nil {
			return info, err
		}
	}
	return info, census.done()
}

// indexEntryStored checks, for Stats's count of the global index, that
// the entry keyed k names a checkpoint in its thread's history order. A
// damaged index key names none, and is counted as an entry: with a log
// whose deletes it escapes (they delete the key as written), one more
// entry than the file holds.
func indexEntryStored(r reader, k []byte) error {
	id, thread, ns, err := parseIndexKey(k)
	if err != nil {
		return err
	}
	if !r.Has(threadPath(thread, bucketOrder), orderKey(id, ns)) {
		return fmt.Errorf("%w: global index entry %x names a checkpoint that is not stored (a damaged key)", ErrCorrupt, k)
	}
	return nil
}

// recordIntact checks record v stored under k in sub-bucket sub of the
// thread of seed ts against its checksum, where it carries one (which
// covers the key too). Threads and Stats check each record whose size
// they count: a damaged size in a page's element header gives a key or a
// value of another length, which reads fail on and a count of sizes alone
// took as it was (a thread's 3.0 KiB of pending writes counted as 24.0
// KiB). GC checks each record it deletes as referred to by nothing: one
// whose key is damaged is referred to by nothing too.
func recordIntact(sub []byte, ts threadSeed, k, v []byte) error {
	return summedIntact(sub, ts, k, v, false)
}

// summedIntact is recordIntact for a walk that counts sizes (Threads,
// Thread, Stats), in a file whose every record carries its sum when
// summed (format 7 on: every record was written or upgraded with one).
// A record without one there is damage that recordIntact, which takes it
// for one written before sums, lets through: a size in the page's element
// header raised gives a key reaching over its value and the next ones,
// and a "value" starting mid-record (t1's md/ counted as 46,416 bytes,
// 13,648 stored: TestH239OwnBucketPageFlipsCostTheirThreadOnly).
func summedIntact(sub []byte, ts threadSeed, k, v []byte, summed bool) error {
	if !holdsRecords(sub) {
		return nil
	}
	if len(v) == 0 {
		// No record is empty: its version byte at least (a damaged
		// size in the page's element header).
		return fmt.Errorf("%w: %s record %x is empty", ErrCorrupt, sub, k)
	}
	if !isSealed(sub, v) {
		if summed {
			return fmt.Errorf("%w: %s record %x has no checksum, which every record of the file has (a damaged size in the page's element header)", ErrCorrupt, sub, k[:min(len(k), 64)])
		}
		return nil
	}
	if _, err := checkSum(string(sub), ts, k, v); err != nil {
		return fmt.Errorf("%s record %x: %w", sub, k, err)
	}
	return nil
}

// ResolveID returns the id of the one checkpoint of (thread, ns) whose id
// starts with prefix (case-insensitive), for tools where people type ids.
// A whole id is returned as it is. No match is ErrNotFound; more than one
// is ErrInvalidConfig, naming the first few; a match whose record fails
// its check (a damaged key names an id never written) is ErrCorrupt.
func (s *Store) ResolveID(ctx context.Context, thread, ns, prefix string) (string, error) {
	if err := validConfig(Config{ThreadID: thread, CheckpointNS: ns}); err != nil {
		return "", err
	}
	if _, err := parseID("checkpoint id", prefix); err == nil {
		return prefix, nil
	}
	want := strings.ToUpper(prefix)
	// An id's first character is 0-7 (its 10 characters of time hold 48
	// bits): a prefix starting with 8-Z starts none, and is not one.
	if want == "" || len(want) >= ulidLen || strings.Trim(want, crockford) != "" || want[0] > '7' {
		return "", fmt.Errorf("%w: %q is neither a checkpoint id nor the start of one", ErrInvalidConfig, prefix)
	}
	var matches []string
	n := 0
	err := s.view(ctx, func(r reader) error {
		nk := nsKey(ns)
		ts := seedOf(thread)
		return r.Scan(threadPath(thread, bucketCheckpoints), nk, nil, false, func(k, v []byte) error {
			if len(k) != len(nk)+idLen {
				return fmt.Errorf("%w: thread %q namespace %q: checkpoint key has %d id bytes", ErrCorrupt, thread, ns, len(k)-len(nk))
			}
			id := idString([idLen]byte(k[len(nk):]))
			if !strings.HasPrefix(id, want) {
				return nil
			}
			// The id a key names is the one written only if the record
			// under it says so (its sum covers the key): a flipped byte
			// of a key named an id never written, returned as the match.
			if _, err := decodeCheckpointRecord(ts, k, v); err != nil {
				return fmt.Errorf("thread %q checkpoint %s: %w", thread, id, err)
			}
			n++
			if len(matches) < 3 {
				matches = append(matches, id)
			}
			return nil
		})
	})
	switch {
	case err != nil:
		return "", err
	case n == 0:
		return "", fmt.Errorf("%w: no checkpoint id starting with %q in thread %q namespace %q", ErrNotFound, prefix, thread, ns)
	case n > 1:
		if n > len(matches) {
			matches = append(matches, "...")
		}
		return "", fmt.Errorf("%w: %q is the start of %d checkpoint ids (%s): give more of it", ErrInvalidConfig, prefix, n, strings.Join(matches, ", "))
	}
	return matches[0], nil
}

// ulidLen is the length of a checkpoint id as text; crockford holds the
// characters it is written with.
const (
	ulidLen   = 26
	crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)
