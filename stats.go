package ckpt

// Stats: the figures of what a store holds and the space it takes, read
// in one walk of the whole file.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// BucketStats is the logical size of one kind of bucket: its keys and
// values, summed over every thread for the per-thread buckets.
type BucketStats struct {
	// Name is "meta", "index", or "threads/*/" followed by the per-thread
	// bucket (cp: checkpoint headers, md: metadata, wr: pending writes, bl:
	// channel values, ids: the thread's history order).
	Name string `json:"name"`
	// What says in a few words what the part holds ("checkpoint records
	// (channel versions, parent)", "pending writes", ...).
	What  string `json:"what"`
	Keys  int    `json:"keys"`
	Bytes int64  `json:"bytes"`
}

// Stats describes what a store holds and how much space it takes.
type Stats struct {
	// FileBytes is how far bbolt's pages reach in the data file, free
	// pages included; PageSize is their size. The file on disk is
	// usually larger (bbolt grows it ahead of need): os.Stat gives that.
	FileBytes int64 `json:"file_bytes"`
	PageSize  int   `json:"page_size"`

	Threads       int `json:"threads"`
	Checkpoints   int `json:"checkpoints"`
	PendingWrites int `json:"pending_writes"`
	// ChannelValues counts stored channel values (blobs).
	ChannelValues int `json:"channel_values"`

	Buckets []BucketStats `json:"buckets"`

	// ChannelRefs counts the channel values the checkpoints refer to, one
	// per channel per checkpoint; SharedRefs counts those that refer to the
	// same value as their parent checkpoint, so were not stored again.
	ChannelRefs int `json:"channel_refs"`
	SharedRefs  int `json:"shared_refs"`
	// SharedBytes is what storing the shared references again would have
	// taken (keys and values): the space saved by storing only changed
	// channels.
	SharedBytes int64 `json:"shared_bytes"`

	// ListVersions counts list values stored as append-deltas (delta.go);
	// ListWholeBytes is what they would take stored whole, ListSegmentBytes
	// what their segments take, and DeltaSavedBytes the difference: the
	// space append-deltas saved.
	ListVersions     int   `json:"list_versions"`
	ListWholeBytes   int64 `json:"list_whole_bytes"`
	ListSegmentBytes int64 `json:"list_segment_bytes"`
	DeltaSavedBytes  int64 `json:"delta_saved_bytes"`
	// SealedUnsized counts the shared channel references and list
	// versions whose whole size is not known because the segments of
	// their list are sealed under a key the handle was not given (a store
	// opened without its keys: sizing a list stored as deltas opens them).
	// When it is not 0, the savings figures (SharedBytes, ListWholeBytes,
	// DeltaSavedBytes) are 0: unknown. The other figures need no key.
	SealedUnsized int `json:"sealed_unsized"`
	// SealedKeys are the ids of the keys the store is encrypted under
	// (SealedKeys of Store); empty: the store is not encrypted.
	SealedKeys []uint32 `json:"sealed_keys,omitempty"`
	// DamagedThreads names, in id order, the threads whose own records or
	// pages are damaged (a read of them is ErrCorrupt; Verify says what
	// is wrong), which a read-only handle's Stats leaves out of every
	// figure but Threads, going on with the others: they read as in a
	// sound file, and the figures are theirs. A handle open for writing
	// fails Stats with ErrCorrupt instead, and damage outside any one
	// thread (the list of threads, the index) fails it on any handle.
	DamagedThreads []string `json:"damaged_threads,omitempty"`
}

// Stats walks the whole store in one read transaction. On a read-only
// handle, a thread whose own records or pages are damaged is named in
// DamagedThreads and left out of the figures, and the walk goes on.
func (s *Store) Stats(ctx context.Context) (*Stats, error) {
	st := &Stats{}
	err := s.view(ctx, func(r reader) error {
		if fc, ok := r.(engine.FileChecker); ok {
			st.FileBytes, st.PageSize = fc.FileSize()
		}
		var err error
		if st.SealedKeys, err = sealedKeysIn(ctx, r); err != nil {
			return err
		}
		sizes := bucketSizes{}
		if err := sizes.scan(r, bucketMeta, nil); err != nil {
			return err
		}
		if err := r.Buckets(bucketPath{bucketThreads}, nil, func(name []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			thread := string(name)
			st.Threads++
			// Counted apart and added once whole: a damaged thread
			// adds nothing of what was read of it before the damage.
			one := &Stats{}
			oneSizes := bucketSizes{}
			count := func() error { return s.threadStats(r, thread, oneSizes, one) }
			if !s.readOnly {
				// Open for writing: damage fails the whole call, as
				// every read of such a handle does (fail-stop).
				if err := count(); err != nil {
					return err
				}
			} else if err := engine.Guard("stats: read thread "+strconv.Quote(thread), count); err != nil {
				// A read-only handle goes on past a thread whose own
				// records or pages are damaged (one of its buckets
				// panics as it is opened: engine's checkDamaged), as
				// Verify, Threads and Export's SkipDamaged do: a user
				// of a damaged file learns the size of the rest. A
				// name not found by itself is damage of the list of
				// threads, whose walk would go on wrong: it ends it.
				if !errors.Is(err, ErrCorrupt) || ctx.Err() != nil || !threadFound(r, thread) {
					return err
				}
				st.DamagedThreads = append(st.DamagedThreads, thread)
				return nil
			}
			sizes.add(oneSizes)
			st.addShares(one)
			return nil
		}); err != nil {
			return err
		}
		// After the threads: an index entry of a damaged thread names a
		// checkpoint in its pages, which no read may open (a cycle);
		// the thread is named already, its entry is counted unchecked.
		if err := sizes.scan(r, bucketIndex, func(k []byte) error {
			if _, thread, _, err := parseIndexKey(k); err == nil {
				if _, lost := slices.BinarySearch(st.DamagedThreads, thread); lost { // named in id order
					return nil
				}
			}
			return indexEntryStored(r, k)
		}); err != nil {
			return err
		}
		for _, b := range sizes {
			st.Buckets = append(st.Buckets, *b)
		}
		sort.Slice(st.Buckets, func(i, j int) bool { return st.Buckets[i].Name < st.Buckets[j].Name })
		if b := sizes["threads/*/"+string(bucketCheckpoints)]; b != nil {
			st.Checkpoints = b.Keys
		}
		if b := sizes["threads/*/"+string(bucketWrites)]; b != nil {
			st.PendingWrites = b.Keys
		}
		if b := sizes["threads/*/"+string(bucketBlobs)]; b != nil {
			st.ChannelValues = b.Keys
		}
		st.DeltaSavedBytes = st.ListWholeBytes - st.ListSegmentBytes
		if st.SealedUnsized > 0 {
			st.SharedBytes, st.ListWholeBytes, st.DeltaSavedBytes = 0, 0, 0
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// threadStats counts thread's records into sizes and its sharing and
// append-delta figures into st.
func (s *Store) threadStats(r reader, thread string, sizes bucketSizes, st *Stats) error {
	if err := knownThreadBuckets(r, thread); err != nil {
		return fmt.Errorf("thread %q: %w", thread, err)
	}
	// What the walk counts is checked as the reads check what they read
	// (threadCensus).
	ts := seedOf(thread)
	census := newThreadCensus(r, thread, !s.untallied, true, true)
	for _, sub := range threadSubBuckets {
		if err := r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
			if err := summedIntact(sub, ts, k, v, !s.untallied); err != nil {
				return fmt.Errorf("thread %q: %w", thread, err)
			}
			sizes.count("threads/*/"+string(sub), k, v)
			return census.add(sub, k, v)
		}); err != nil {
			return err
		}
	}
	if err := census.done(); err != nil {
		return err
	}
	if err := sharingStats(r, s.keys, thread, st); err != nil {
		return err
	}
	return deltaStats(r, s.keys, thread, st)
}

// bucketSizes sums keys and bytes per kind of bucket (BucketStats.Name).
type bucketSizes map[string]*BucketStats

func (sz bucketSizes) count(name string, k, v []byte) {
	b := sz[name]
	if b == nil {
		b = &BucketStats{Name: name, What: bucketHolds[name]}
		sz[name] = b
	}
	b.Keys++
	b.Bytes += int64(len(k) + len(v))
}

// add adds the sums of o.
func (sz bucketSizes) add(o bucketSizes) {
	for name, ob := range o {
		b := sz[name]
		if b == nil {
			b = &BucketStats{Name: name, What: ob.What}
			sz[name] = b
		}
		b.Keys += ob.Keys
		b.Bytes += ob.Bytes
	}
}

// scan counts the keys of the top bucket top, each checked by check
// first (nil: none).
func (sz bucketSizes) scan(r reader, top []byte, check func(k []byte) error) error {
	return r.Scan(bucketPath{top}, nil, nil, false, func(k, v []byte) error {
		if check != nil {
			if err := check(k); err != nil {
				return err
			}
		}
		sz.count(string(top), k, v)
		return nil
	})
}

// addShares adds one thread's sharing and append-delta figures (o, from
// sharingStats and deltaStats); Stats works out DeltaSavedBytes from the
// sums.
func (st *Stats) addShares(o *Stats) {
	st.ChannelRefs += o.ChannelRefs
	st.SharedRefs += o.SharedRefs
	st.SharedBytes += o.SharedBytes
	st.ListVersions += o.ListVersions
	st.ListWholeBytes += o.ListWholeBytes
	st.ListSegmentBytes += o.ListSegmentBytes
	st.SealedUnsized += o.SealedUnsized
}

// sharingStats counts, for one thread, the channel references that reuse
// the parent checkpoint's value. Checkpoints are walked in key order, in
// which a parent usually comes right before its child, so the parent's
// record is kept from the previous step instead of read again.
func sharingStats(r reader, kr *keyring, thread string, st *Stats) error {
	var prevKey []byte
	var prev *checkpointRecord
	cpPath, blPath := threadPath(thread, bucketCheckpoints), threadPath(thread, bucketBlobs)
	ts := seedOf(thread)
	return r.Scan(cpPath, nil, nil, false, func(k, v []byte) error {
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			return fmt.Errorf("thread %q: %w", thread, err)
		}
		rec, err := decodeCheckpointRecord(ts, k, v)
		if err != nil {
			return fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(id), err)
		}
		var parent *checkpointRecord
		if len(rec.Parent) == idLen {
			pk := checkpointKey(ns, [idLen]byte(rec.Parent))
			if bytes.Equal(pk, prevKey) {
				parent = prev
			} else if raw := r.Get(cpPath, pk); raw != nil {
				parent, _ = decodeCheckpointRecord(ts, pk, raw)
			}
		}
		for ch, ver := range rec.Versions {
			st.ChannelRefs++
			if parent == nil || parent.Versions[ch] != ver {
				continue
			}
			st.SharedRefs++
			bk := blobKey(ns, ch, ver)
			size, err := wholeSize(r, kr, thread, ts, ns, ch, bk, r.Get(blPath, bk))
			if errors.Is(err, ErrKey) {
				st.SealedUnsized++ // a sealed list, no key: size unknown
				continue
			}
			if err != nil {
				return fmt.Errorf("thread %q checkpoint %s channel %q: %w", thread, idString(id), ch, err)
			}
			st.SharedBytes += int64(len(bk)) + size
		}
		prevKey, prev = bytes.Clone(k), rec
		return nil
	})
}

// wholeSize is the size of a blob record, read under key, as if its value
// were stored whole. ts is thread's seed.
func wholeSize(r reader, kr *keyring, thread string, ts threadSeed, ns, channel string, key, blob []byte) (int64, error) {
	kind, body, err := blobKind(ts, key, blob)
	if err != nil || kind != blobListRef {
		return int64(len(blob)), err
	}
	ref, err := decodeListRef(body)
	if err != nil {
		return 0, err
	}
	size := int64(len(appendListHeader(nil, ref.count)) + 2)
	err = lineage{thread: thread, seed: ts, ns: ns, channel: channel, id: ref.lineage, kr: kr}.pieces(r, ref.count, func(p []byte) bool {
		size += int64(len(p))
		return true
	})
	return size, err
}

// deltaStats adds one thread's append-delta figures to st.
func deltaStats(r reader, kr *keyring, thread string, st *Stats) error {
	// A failure ends the first walk; the segments are still counted.
	ts := seedOf(thread)
	err := r.Scan(threadPath(thread, bucketBlobs), nil, nil, false, func(k, v []byte) error {
		if kind, _, err := blobKind(ts, k, v); err != nil || kind != blobListRef {
			return err
		}
		ns, ch, _, err := parseBlobKey(k)
		if err != nil {
			return err
		}
		size, err := wholeSize(r, kr, thread, ts, ns, ch, k, v)
		if errors.Is(err, ErrKey) {
			// Sized by opening its segments: without their key the
			// whole size is unknown, the rest of the figures are not.
			st.ListVersions++
			st.SealedUnsized++
			st.ListSegmentBytes += int64(len(k) + len(v))
			return nil
		}
		if err != nil {
			return fmt.Errorf("thread %q channel %q: %w", thread, ch, err)
		}
		st.ListVersions++
		st.ListWholeBytes += int64(len(k)) + size
		st.ListSegmentBytes += int64(len(k) + len(v))
		return nil
	})
	// Its error is harmless: Stats walked this ls/ in the same transaction
	// just before, returning its error.
	_ = r.Scan(threadPath(thread, bucketSegments), nil, nil, false, func(k, v []byte) error {
		st.ListSegmentBytes += int64(len(k) + len(v))
		return nil
	})
	st.DeltaSavedBytes = st.ListWholeBytes - st.ListSegmentBytes
	return err
}
