package ckpt

// Looking into a store without knowing its threads in advance: thread
// summaries, storage statistics and a consistency check. These serve the
// ckpt command and operators; they read through the reader interface only.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
	"sort"
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
func (s *Store) Threads(ctx context.Context) iter.Seq2[ThreadInfo, error] {
	return func(yield func(ThreadInfo, error) bool) {
		var after []byte
		for {
			var page []ThreadInfo
			err := s.view(ctx, func(r reader) error {
				return r.Buckets(bucketPath{bucketThreads}, after, func(name []byte) error {
					info, err := summariseThread(r, string(name))
					if err != nil {
						return err
					}
					page = append(page, info)
					after = bytes.Clone(name)
					return keepScanning(len(page) < threadsPage)
				})
			})
			for _, info := range page {
				if !yield(info, nil) {
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
			return fmt.Errorf("%w: thread %q", ErrNotFound, threadID)
		}
		info, err = summariseThread(r, threadID)
		return err
	})
	return info, err
}

func summariseThread(r reader, thread string) (ThreadInfo, error) {
	info := ThreadInfo{ThreadID: thread}
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
	for ns := range nss {
		info.Namespaces = append(info.Namespaces, ns)
	}
	sort.Strings(info.Namespaces)
	if newest != nil {
		id, ns, _ := parseOrderKey(newest)
		info.NewestID = idString(id)
		rec, err := decodeCheckpointRecord(r.Get(threadPath(thread, bucketCheckpoints), checkpointKey(ns, id)))
		if err != nil {
			return info, fmt.Errorf("thread %q checkpoint %s: %w", thread, info.NewestID, err)
		}
		info.NewestTime = time.Unix(0, rec.TS).UTC()
	}
	for _, sub := range threadSubBuckets {
		r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
			info.Bytes += int64(len(k) + len(v))
			if bytes.Equal(sub, bucketWrites) {
				info.PendingWrites++
			}
			return nil
		})
	}
	return info, nil
}

// BucketStats is the logical size of one kind of bucket: its keys and
// values, summed over every thread for the per-thread buckets.
type BucketStats struct {
	// Name is "meta", "index", or "threads/*/" followed by the per-thread
	// bucket (cp: checkpoint headers, md: metadata, wr: pending writes, bl:
	// channel values, ids: the thread's history order).
	Name  string `json:"name"`
	Keys  int    `json:"keys"`
	Bytes int64  `json:"bytes"`
}

// Stats describes what a store holds and how much space it takes.
type Stats struct {
	// FileBytes is the size of the data file; PageSize its page size.
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
}

// Stats walks the whole store in one read transaction.
func (s *Store) Stats(ctx context.Context) (*Stats, error) {
	st := &Stats{}
	err := s.view(ctx, func(r reader) error {
		if fc, ok := r.(engine.FileChecker); ok {
			st.FileBytes, st.PageSize = fc.FileSize()
		}
		sizes := map[string]*BucketStats{}
		add := func(name string, k, v []byte) {
			b := sizes[name]
			if b == nil {
				b = &BucketStats{Name: name}
				sizes[name] = b
			}
			b.Keys++
			b.Bytes += int64(len(k) + len(v))
		}
		for _, top := range [][]byte{bucketMeta, bucketIndex} {
			r.Scan(bucketPath{top}, nil, nil, false, func(k, v []byte) error {
				add(string(top), k, v)
				return nil
			})
		}
		// A failure ends the walk; the sizes so far are still summed up.
		err := r.Buckets(bucketPath{bucketThreads}, nil, func(name []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			thread := string(name)
			st.Threads++
			for _, sub := range threadSubBuckets {
				r.Scan(threadPath(thread, sub), nil, nil, false, func(k, v []byte) error {
					add("threads/*/"+string(sub), k, v)
					return nil
				})
			}
			if err := sharingStats(r, s.keys, thread, st); err != nil {
				return err
			}
			return deltaStats(r, s.keys, thread, st)
		})
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
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// sharingStats counts, for one thread, the channel references that reuse
// the parent checkpoint's value. Checkpoints are walked in key order, in
// which a parent usually comes right before its child, so the parent's
// record is kept from the previous step instead of read again.
func sharingStats(r reader, kr *keyring, thread string, st *Stats) error {
	var prevKey []byte
	var prev *checkpointRecord
	cpPath, blPath := threadPath(thread, bucketCheckpoints), threadPath(thread, bucketBlobs)
	return r.Scan(cpPath, nil, nil, false, func(k, v []byte) error {
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			return fmt.Errorf("thread %q: %w", thread, err)
		}
		rec, err := decodeCheckpointRecord(v)
		if err != nil {
			return fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(id), err)
		}
		var parent *checkpointRecord
		if len(rec.Parent) == idLen {
			pk := checkpointKey(ns, [idLen]byte(rec.Parent))
			if bytes.Equal(pk, prevKey) {
				parent = prev
			} else if raw := r.Get(cpPath, pk); raw != nil {
				parent, _ = decodeCheckpointRecord(raw)
			}
		}
		for ch, ver := range rec.Versions {
			st.ChannelRefs++
			if parent == nil || parent.Versions[ch] != ver {
				continue
			}
			st.SharedRefs++
			bk := blobKey(ns, ch, ver)
			size, err := wholeSize(r, kr, thread, ns, ch, r.Get(blPath, bk))
			if err != nil {
				return fmt.Errorf("thread %q checkpoint %s channel %q: %w", thread, idString(id), ch, err)
			}
			st.SharedBytes += int64(len(bk)) + size
		}
		prevKey, prev = bytes.Clone(k), rec
		return nil
	})
}

// wholeSize is the size of a blob record as if its value were stored whole.
func wholeSize(r reader, kr *keyring, thread, ns, channel string, blob []byte) (int64, error) {
	kind, body, err := blobKind(blob)
	if err != nil || kind != blobListRef {
		return int64(len(blob)), err
	}
	ref, err := decodeListRef(body)
	if err != nil {
		return 0, err
	}
	size := int64(len(appendListHeader(nil, ref.count)) + 2)
	err = lineage{thread: thread, ns: ns, channel: channel, id: ref.lineage, kr: kr}.pieces(r, ref.count, func(p []byte) bool {
		size += int64(len(p))
		return true
	})
	return size, err
}

// deltaStats adds one thread's append-delta figures to st.
func deltaStats(r reader, kr *keyring, thread string, st *Stats) error {
	// A failure ends the first walk; the segments are still counted.
	err := r.Scan(threadPath(thread, bucketBlobs), nil, nil, false, func(k, v []byte) error {
		if kind, _, err := blobKind(v); err != nil || kind != blobListRef {
			return err
		}
		ns, ch, _, err := parseBlobKey(k)
		if err != nil {
			return err
		}
		size, err := wholeSize(r, kr, thread, ns, ch, v)
		if err != nil {
			return fmt.Errorf("thread %q channel %q: %w", thread, ch, err)
		}
		st.ListVersions++
		st.ListWholeBytes += int64(len(k)) + size
		st.ListSegmentBytes += int64(len(k) + len(v))
		return nil
	})
	r.Scan(threadPath(thread, bucketSegments), nil, nil, false, func(k, v []byte) error {
		st.ListSegmentBytes += int64(len(k) + len(v))
		return nil
	})
	st.DeltaSavedBytes = st.ListWholeBytes - st.ListSegmentBytes
	return err
}

// Problem is one inconsistency found by Verify.
type Problem struct {
	// Check names what was checked: "file" (bbolt's page check), "format",
	// "checkpoint", "metadata", "value", "write", "order", "index" or
	// "import" (a thread left by an import that did not finish).
	Check        string `json:"check"`
	Thread       string `json:"thread,omitempty"`
	Namespace    string `json:"ns,omitempty"`
	CheckpointID string `json:"checkpoint_id,omitempty"`
	// Detail says what is wrong, precisely enough to find it.
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	var b bytes.Buffer
	b.WriteString(p.Check)
	if p.Thread != "" {
		fmt.Fprintf(&b, " thread=%q", p.Thread)
	}
	if p.Namespace != "" {
		fmt.Fprintf(&b, " ns=%q", p.Namespace)
	}
	if p.CheckpointID != "" {
		fmt.Fprintf(&b, " checkpoint=%s", p.CheckpointID)
	}
	b.WriteString(": ")
	b.WriteString(p.Detail)
	return b.String()
}

// VerifyReport is the outcome of Verify: what was checked and what is
// wrong.
type VerifyReport struct {
	Threads       int `json:"threads"`
	Checkpoints   int `json:"checkpoints"`
	PendingWrites int `json:"pending_writes"`
	ChannelValues int `json:"channel_values"`
	IndexEntries  int `json:"index_entries"`
	// Problems lists the first 1,000 problems found (so verifying a badly
	// damaged file takes bounded memory); Truncated counts the ones found
	// beyond that.
	Problems  []Problem `json:"problems"`
	Truncated int       `json:"truncated"`
}

// OK reports whether Verify found nothing wrong.
func (r *VerifyReport) OK() bool { return len(r.Problems) == 0 && r.Truncated == 0 }

// maxProblems bounds the problems a VerifyReport lists, so verifying a badly
// damaged file takes bounded memory. VerifyReport.Problems's doc says 1,000.
const maxProblems = 1000

func (r *VerifyReport) add(p Problem) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, p)
	} else {
		r.Truncated++
	}
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// Progress, if set, is called after each thread with the number of
	// threads checked so far.
	Progress func(threadsDone int)
}

// Verify checks the store in one read transaction: bbolt's page-level
// consistency check, then the store's own invariants: the format marker;
// every checkpoint record, its metadata and every channel value it refers
// to exist and decode; every pending write and stored value decodes and
// belongs to a stored checkpoint; the thread order and the global index
// agree with the checkpoints both ways; every record's checksum matches
// (each bad one listed with thread, checkpoint, channel and version) and,
// in a format-3 file, no record lacks one. Problems are reported, not
// returned: the error is for a check that could not run (closed store,
// cancelled context). A panic from a damaged page is reported as a problem.
//
// Verify is safe on a live store. bbolt's page check reads the freelist,
// which a bbolt write transaction changes: beside one it reports pages
// falsely ("unreachable unfreed", "reachable freed") or races on the
// freelist's map. So the page check never runs beside a bbolt write. With
// the write-ahead log (the default) it runs in a read transaction begun
// while the applier is paused (writes go on into the log meanwhile, only
// the move into bbolt waits; should 32 MB of log pile up unapplied before
// the page check ends, writes wait for it too), and the store's own checks
// then run on a snapshot like any read. With NoWAL, Verify runs inside the commit loop,
// in its write transaction, so writes wait until it is done. Read-only,
// nothing in this process writes and no other process may.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (*VerifyReport, error) {
	rep := &VerifyReport{Problems: []Problem{}}
	check := func(r reader) error { return verifyAll(ctx, r, s.keys, rep, opts, true) }
	if s.readOnly {
		return rep, s.view(ctx, check)
	}
	if s.eng.Logging() {
		if err := s.checkPagesPaused(ctx, rep); err != nil || !rep.OK() {
			// Walking damaged pages may return garbage or fault: stop at
			// what bbolt itself reports.
			return rep, err
		}
		return rep, s.view(ctx, func(r reader) error { return verifyAll(ctx, r, s.keys, rep, opts, false) })
	}
	// Sync: wait for the op to run, whatever the store's default.
	err := s.write(WithWriteOptions(ctx, WriteOptions{Durability: Sync}), func(w writer) error { return check(w) })
	return rep, err
}

// checkPagesPaused runs bbolt's page check with the applier paused: it
// holds applyMu, which the applier holds around each of its bbolt write
// transactions (the only ones a logging store runs), and begins its read
// transaction after the last commit, so the freelist it reads matches
// the pages its transaction reaches.
func (s *Store) checkPagesPaused(ctx context.Context, rep *VerifyReport) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	err := engine.Guard("verify: page check", func() error {
		tx, _, release, err := s.eng.Hold() // the applier paused, the handle kept from Compact's swap
		if err != nil {
			return err
		}
		defer release()
		defer func() { _ = tx.Rollback() }()
		if err := engine.TouchAll(tx); err != nil {
			return err
		}
		(engine.NewBoltView(tx)).CheckPages(func(e error) bool {
			rep.add(Problem{Check: "file", Detail: "page check: " + e.Error()})
			return len(rep.Problems) < maxProblems
		})
		return nil
	})
	if err != nil {
		rep.add(Problem{Check: "file", Detail: err.Error()})
	}
	return nil
}

func verifyAll(ctx context.Context, r reader, kr *keyring, rep *VerifyReport, opts VerifyOptions, pages bool) (err error) {
	// A damaged page can make bbolt panic or fault on a bad address; both
	// become a reported problem instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			rep.add(Problem{Check: "file", Detail: fmt.Sprintf("reading the file failed: %v", p)})
			err = nil
		}
	}()
	if fc, ok := r.(engine.FileChecker); ok && pages {
		if tx := engine.TxOf(r); tx != nil {
			if err := engine.TouchAll(tx); err != nil {
				rep.add(Problem{Check: "file", Detail: err.Error()})
				return nil
			}
		}
		fc.CheckPages(func(e error) bool {
			rep.add(Problem{Check: "file", Detail: "page check: " + e.Error()})
			return len(rep.Problems) < maxProblems
		})
		if !rep.OK() {
			// Walking damaged pages may return garbage or fault: stop at
			// what bbolt itself reports.
			return nil
		}
	}
	if err := checkFormat(r.Get(bucketPath{bucketMeta}, keyFormat)); err != nil {
		rep.add(Problem{Check: "format", Detail: err.Error()})
		return nil
	}
	importing := unfinishedImports(r)
	if err := r.Buckets(bucketPath{bucketThreads}, nil, func(name []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep.Threads++
		if importing[string(name)] {
			rep.add(Problem{Check: "import", Thread: string(name), Detail: "left by an import that did not finish: the next read-write open deletes it"})
			return nil
		}
		verifyThread(r, kr, string(name), rep)
		verifyRecordSums(r, string(name), rep)
		if opts.Progress != nil {
			opts.Progress(rep.Threads)
		}
		return nil
	}); err != nil {
		return err
	}
	r.Scan(bucketPath{bucketIndex}, nil, nil, false, func(k, _ []byte) error {
		rep.IndexEntries++
		id, thread, ns, err := parseIndexKey(k)
		if err != nil {
			rep.add(Problem{Check: "index", Detail: fmt.Sprintf("key %x: %v", k, err)})
			return nil
		}
		if r.Get(threadPath(thread, bucketCheckpoints), checkpointKey(ns, id)) == nil {
			rep.add(Problem{Check: "index", Thread: thread, Namespace: ns, CheckpointID: idString(id),
				Detail: "global index entry for a checkpoint that is not stored"})
		}
		return nil
	})
	return ctx.Err()
}

// verifyThread checks one thread's buckets against each other.
func verifyThread(r reader, kr *keyring, thread string, rep *VerifyReport) {
	cpPath := threadPath(thread, bucketCheckpoints)
	mdPath := threadPath(thread, bucketMetadata)
	blPath := threadPath(thread, bucketBlobs)
	problem := func(check, ns string, id *[idLen]byte, format string, args ...any) {
		p := Problem{Check: check, Thread: thread, Namespace: ns, Detail: fmt.Sprintf(format, args...)}
		if id != nil {
			p.CheckpointID = idString(*id)
		}
		rep.add(p)
	}
	r.Scan(cpPath, nil, nil, false, func(k, v []byte) error {
		rep.Checkpoints++
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			problem("checkpoint", "", nil, "key %x: %v", k, err)
			return nil
		}
		rec, err := decodeCheckpointRecord(v)
		if err != nil {
			problem("checkpoint", ns, &id, "record does not decode: %v", err)
		}
		if md := r.Get(mdPath, k); md == nil {
			problem("metadata", ns, &id, "checkpoint has no metadata record")
		} else if _, err := decodeMetadata(md); err != nil {
			problem("metadata", ns, &id, "metadata does not decode: %v", err)
		}
		if !r.Has(threadPath(thread, bucketOrder), orderKey(id, ns)) {
			problem("order", ns, &id, "checkpoint missing from the thread's history order")
		}
		if !r.Has(bucketPath{bucketIndex}, indexKey(id, thread, ns)) {
			problem("index", ns, &id, "checkpoint missing from the global index")
		}
		if rec == nil {
			return nil
		}
		if len(rec.Parent) != 0 && len(rec.Parent) != idLen {
			problem("checkpoint", ns, &id, "parent id has %d bytes", len(rec.Parent))
		}
		chans := make([]string, 0, len(rec.Versions))
		for ch := range rec.Versions {
			chans = append(chans, ch)
		}
		sort.Strings(chans)
		for _, ch := range chans {
			if r.Get(blPath, blobKey(ns, ch, rec.Versions[ch])) == nil {
				problem("value", ns, &id, "channel %q version %q: no value stored", ch, rec.Versions[ch])
			}
		}
		return nil
	})
	r.Scan(mdPath, nil, nil, false, func(k, _ []byte) error {
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			problem("metadata", "", nil, "key %x: %v", k, err)
		} else if r.Get(cpPath, k) == nil {
			problem("metadata", ns, &id, "metadata of a checkpoint that is not stored")
		}
		return nil
	})
	r.Scan(blPath, nil, nil, false, func(k, v []byte) error {
		rep.ChannelValues++
		ns, ch, ver, err := parseBlobKey(k)
		if err != nil {
			problem("value", "", nil, "key %x: %v", k, err)
			return nil
		}
		val, ok, err := resolveBlob(r, kr, thread, ns, ch, ver, v)
		if err == nil && ok {
			_, err = val.Value()
		}
		if errors.Is(err, ErrKey) && kr == nil {
			err = nil // sealed, checksum checked; opened only with keys
		}
		if err != nil {
			problem("value", ns, nil, "channel %q version %q does not decode: %v", ch, ver, err)
		}
		return nil
	})
	r.Scan(threadPath(thread, bucketWrites), nil, nil, false, func(k, v []byte) error {
		rep.PendingWrites++
		ns, id, task, idx, err := parseFullWriteKey(k)
		if err != nil {
			problem("write", "", nil, "key %x: %v", k, err)
			return nil
		}
		if r.Get(cpPath, checkpointKey(ns, id)) == nil {
			problem("write", ns, &id, "pending write (task %q, idx %d) of a checkpoint that is not stored", task, idx)
		}
		rec, err := openWriteRecord(kr, thread, k, v)
		if errors.Is(err, ErrKey) && kr == nil {
			rec, err = decodeWriteRecord(v) // sealed: checked without opening
		} else if err == nil {
			_, err = Raw(rec.Value).Value()
		}
		if err != nil {
			problem("write", ns, &id, "pending write (task %q, idx %d) does not decode: %v", task, idx, err)
		}
		return nil
	})
	r.Scan(threadPath(thread, bucketOrder), nil, nil, false, func(k, _ []byte) error {
		id, ns, err := parseOrderKey(k)
		if err != nil {
			problem("order", "", nil, "key %x: %v", k, err)
		} else if r.Get(cpPath, checkpointKey(ns, id)) == nil {
			problem("order", ns, &id, "history order entry for a checkpoint that is not stored")
		}
		return nil
	})
}

// ResolveID returns the id of the one checkpoint of (thread, ns) whose id
// starts with prefix (case-insensitive), for tools where people type ids.
// A whole id is returned as it is. No match is ErrNotFound; more than one
// is ErrInvalidConfig, naming the first few.
func (s *Store) ResolveID(ctx context.Context, thread, ns, prefix string) (string, error) {
	if err := validConfig(Config{ThreadID: thread, CheckpointNS: ns}); err != nil {
		return "", err
	}
	if _, err := parseID("checkpoint id", prefix); err == nil {
		return prefix, nil
	}
	want := strings.ToUpper(prefix)
	if want == "" || len(want) >= ulidLen || strings.Trim(want, crockford) != "" {
		return "", fmt.Errorf("%w: %q is neither a checkpoint id nor the start of one", ErrInvalidConfig, prefix)
	}
	var matches []string
	n := 0
	err := s.view(ctx, func(r reader) error {
		nk := nsKey(ns)
		r.Scan(threadPath(thread, bucketCheckpoints), nk, nil, false, func(k, _ []byte) error {
			if len(k) != len(nk)+idLen {
				return nil
			}
			if id := idString([idLen]byte(k[len(nk):])); strings.HasPrefix(id, want) {
				n++
				if len(matches) < 3 {
					matches = append(matches, id)
				}
			}
			return nil
		})
		return nil
	})
	switch {
	case err != nil:
		return "", err
	case n == 0:
		return "", fmt.Errorf("%w: no checkpoint id starting with %q in thread %q namespace %q", ErrNotFound, prefix, thread, ns)
	case n > 1:
		return "", fmt.Errorf("%w: %q is the start of %d checkpoint ids (%s...): give more of it", ErrInvalidConfig, prefix, n, strings.Join(matches, ", "))
	}
	return matches[0], nil
}

// ulidLen is the length of a checkpoint id as text; crockford holds the
// characters it is written with.
const (
	ulidLen   = 26
	crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)
