package ckpt

// Export and import of threads as JSON lines. The dump carries every record
// as the bytes stored (base64), so a round trip loses nothing: export,
// import into a new file and export again gives identical output. Both
// directions stream: memory holds at most 4 MB of one thread's dump
// (export, which spools the rest of a larger thread to a temporary file)
// or one bounded batch (import), whatever the size of the file.
//
// Dump format (version 1), one JSON object per line:
//
//	{"ckpt_export":1}                                   header
//	{"kind":"checkpoint","thread":T,"ns":NS,"id":ID,"data":B64,"metadata":B64}
//	{"kind":"value","thread":T,"ns":NS,"channel":C,"version":V,"data":B64}
//	{"kind":"write","thread":T,"ns":NS,"id":ID,"task":K,"idx":N,"data":B64}
//	{"kind":"segment","thread":T,"ns":NS,"channel":C,"lineage":L,"start":N,"data":B64}
//	{"kind":"end","checkpoints":N,"values":N,"writes":N,"segments":N} trailer
//
// Threads come in id order; inside a thread, its checkpoints, then its
// channel values, then its pending writes, then its list segments
// (append-deltas, delta.go), each in key order. Names that
// are not valid UTF-8 are written as {"b64": ...} so they survive JSON.
// The trailer lets import tell a complete dump from a truncated one.
// Records carry their checksums (CRC-32C from format 3, XXH3 from format
// 4, over the key from 5, over thread and key from 6: record_sum.go) as
// stored; import checks each under the key and thread its line names and
// writes it with format 6's sum over both (records of a dump made before
// format 3 get theirs). A record of format 6 fails its check under any
// other thread, so a dump whose thread field was changed is refused, as
// its sealed records would not open. A build of an older format refuses a
// dump with newer records at the first one (an unknown record version),
// leaving its store as it was.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"unicode/utf8"
)

// exportVersion is the version of the dump format above.
const exportVersion = 1

// ErrDump: an import's input is not a well-formed ckpt dump. The message
// names the line.
var ErrDump = errors.New("ckpt: malformed dump")

// dumpName is a name in a dump: a JSON string, or {"b64": ...} when it is
// not valid UTF-8 (JSON would replace the bad bytes).
type dumpName string

func (n dumpName) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(n)) {
		return json.Marshal(string(n))
	}
	return json.Marshal(struct {
		B64 []byte `json:"b64"`
	}{[]byte(n)})
}

func (n *dumpName) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var v struct {
			B64 []byte `json:"b64"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*n = dumpName(v.B64)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*n = dumpName(s)
	return nil
}

// dumpRecord is one line of a dump after the header.
type dumpRecord struct {
	Kind     string   `json:"kind"`
	Thread   dumpName `json:"thread,omitempty"`
	NS       dumpName `json:"ns,omitempty"`
	ID       string   `json:"id,omitempty"`
	Channel  dumpName `json:"channel,omitempty"`
	Version  dumpName `json:"version,omitempty"`
	Task     dumpName `json:"task,omitempty"`
	Idx      *int     `json:"idx,omitempty"`
	Lineage  *uint64  `json:"lineage,omitempty"`
	Start    *int     `json:"start,omitempty"`
	Data     []byte   `json:"data,omitempty"`
	Metadata []byte   `json:"metadata,omitempty"`

	// Counts, in the trailer only.
	Checkpoints *int64 `json:"checkpoints,omitempty"`
	Values      *int64 `json:"values,omitempty"`
	Writes      *int64 `json:"writes,omitempty"`
	Segments    *int64 `json:"segments,omitempty"`
}

type dumpHeader struct {
	Version int `json:"ckpt_export"`
}

// DumpSummary counts the records an export wrote or an import read.
type DumpSummary struct {
	Threads     int64 `json:"threads"`
	Checkpoints int64 `json:"checkpoints"`
	Values      int64 `json:"values"`
	Writes      int64 `json:"pending_writes"`
	Segments    int64 `json:"list_segments"`
	// Damaged names, in the order met, the threads an Export with
	// SkipDamaged left out (Threads does not count them).
	Damaged []string `json:"damaged_threads,omitempty"`
}

func (d DumpSummary) records() int64 { return d.Checkpoints + d.Values + d.Writes + d.Segments }

// ExportOptions select what Export writes.
type ExportOptions struct {
	// Threads names the threads to export; empty exports all. An unknown
	// thread is ErrNotFound, before anything is written.
	Threads []string
	// Progress, if set, is called after each thread with the records
	// written so far (not during a thread's read: it must not hold it).
	Progress func(records int64)
	// SkipDamaged leaves out a thread whose records or pages are damaged
	// (its read is ErrCorrupt) instead of failing: none of its records
	// goes into the dump, which holds every other thread whole and an end
	// line counting them, and the summary names it (DumpSummary.Damaged).
	// The caller must check that list: the dump is not the whole store.
	SkipDamaged bool
}

// Export writes threads to w as a dump: JSON lines, a header, one line
// per stored record (its bytes in base64, checksum included) and a
// trailer with the counts (the format is described in the source, at
// the top of export.go). One read transaction per thread: each thread as it was at its own transaction's
// start (whole, self-consistent, what Import needs), threads written after
// the export passed them not in it, a thread deleted before the export
// reaches it left out. A thread is read into memory (past 4 MB, into a
// temporary file beside the store, or in os.TempDir when the store's
// directory is not writable) and written to w only after its transaction
// ended: a w that stops reading holds nothing of the store, neither pages
// from reuse nor Close, and after a Close the export fails with ErrClosed
// at its next thread. The dump's bytes do not depend on where it spooled.
func (s *Store) Export(ctx context.Context, w io.Writer, opts ExportOptions) (DumpSummary, error) {
	var sum DumpSummary
	threads := opts.Threads
	for _, t := range threads {
		if err := validThread(t); err != nil {
			return sum, err
		}
	}
	// A dump of the store as of the call, as a Backup is: with the Async
	// writes its caller queued before it, which a snapshot holds only
	// once they are logged (TestExportHoldsTheAsyncWritesQueuedBeforeIt).
	if err := s.seeQueued(ctx); err != nil {
		return sum, err
	}
	err := s.view(ctx, func(r reader) error {
		// Every thread's read looks its namespaces up in the directory
		// of threads (exportThread): SkipDamaged named every thread
		// damaged for a cycle there.
		if err := dirCycle(r, !s.unlisted, "export"); err != nil {
			return err
		}
		for _, t := range threads {
			// threadFound: a damaged thread bucket (a read-only handle's,
			// whose pages lead into a cycle) is found, and exportOne
			// gives it its own ErrCorrupt (SkipDamaged leaves it out).
			if !threadFound(r, t) {
				if err := threadHidden(r, t); err != nil {
					return err
				}
				return fmt.Errorf("%w: thread %q", ErrNotFound, t)
			}
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	hdr := json.NewEncoder(bw)
	if err := hdr.Encode(dumpHeader{Version: exportVersion}); err != nil {
		return sum, err
	}
	// A thread is read into sp in its read transaction, and sp is written
	// to w after the transaction ended: a consumer that stops reading
	// holds nothing of the store (no pages from reuse, not Close).
	sp := &spool{dir: filepath.Dir(s.path), limit: s.tune.exportSpoolMem}
	defer sp.close()
	enc := json.NewEncoder(sp)
	enc.SetEscapeHTML(false)
	emit := func(rec *dumpRecord) error {
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("ckpt: export: %w", err)
		}
		return nil
	}
	exportOne := func(thread string) error {
		before := sum
		sum.Threads++
		if err := sp.reset(); err != nil {
			return fmt.Errorf("ckpt: export: %w", err)
		}
		if err := s.view(ctx, func(r reader) error { return exportThread(ctx, r, thread, !s.untallied, !s.unlisted, emit, &sum) }); err != nil {
			if !opts.SkipDamaged || !errors.Is(err, ErrCorrupt) || ctx.Err() != nil {
				return err
			}
			// Its records stay in the spool, which the next thread
			// resets: nothing of it reaches w, nor the counts.
			before.Damaged = append(before.Damaged, thread)
			sum = before
			return nil
		}
		if err := sp.writeTo(bw); err != nil {
			return fmt.Errorf("ckpt: export: %w", err)
		}
		if opts.Progress != nil {
			opts.Progress(sum.records())
		}
		return nil
	}
	if len(threads) > 0 {
		for _, t := range threads {
			if err := exportOne(t); err != nil {
				return sum, err
			}
		}
	} else {
		var after []byte
		for {
			var name []byte
			err := s.view(ctx, func(r reader) error {
				err := r.Buckets(bucketPath{bucketThreads}, after, func(n []byte) error {
					name = bytes.Clone(n)
					return errStop
				})
				if err == nil && name != nil && !threadFound(r, string(name)) {
					// The walk found a name its lookup does not: a name
					// out of order in a damaged page. The walk would go on
					// from it past every thread after it, and the dump
					// would end whole-looking without them. A damaged
					// bucket is found (threadFound): exportOne reads it.
					return fmt.Errorf("%w: thread %q: its name is out of place in the list of threads (a damaged page)", ErrCorrupt, name)
				}
				return err
			})
			if err != nil {
				return sum, err
			}
			if name == nil {
				break
			}
			if err := exportOne(string(name)); err != nil {
				return sum, err
			}
			after = name
		}
	}
	c, v, wr, sg := sum.Checkpoints, sum.Values, sum.Writes, sum.Segments
	if err := hdr.Encode(&dumpRecord{Kind: "end", Checkpoints: &c, Values: &v, Writes: &wr, Segments: &sg}); err != nil {
		return sum, fmt.Errorf("ckpt: export: %w", err)
	}
	if opts.Progress != nil {
		opts.Progress(sum.records())
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("ckpt: export: %w", err)
	}
	return sum, nil
}

// exportThread dumps one thread. What it reads goes through the checks of
// a threadCensus (thread_census.go): a record that damage hid would
// otherwise leave the dump, and the store imported from it, without a
// word (tallied: the file keeps write tallies, and the thread's pending
// writes are checked against them). lists: the file lists namespaces
// (format 8), and a namespace listed without a checkpoint found is
// ErrCorrupt, for the same reason.
func exportThread(ctx context.Context, r reader, thread string, tallied, lists bool, emit func(*dumpRecord) error, sum *DumpSummary) error {
	// The dump reads the thread bucket by bucket, by name: one of a
	// damaged name would leave the dump without its records.
	if err := knownThreadBuckets(r, thread); err != nil {
		return fmt.Errorf("thread %q: %w", thread, err)
	}
	if lists {
		// A namespace whose records damage hides would leave the dump
		// without a word (thread_dir.go): one seek a namespace listed.
		if err := hiddenNamespaces(r, thread); err != nil {
			return err
		}
	}
	mdPath := threadPath(thread, bucketMetadata)
	ts := seedOf(thread)
	// intact checks the sum of a record about to be copied as it is: a
	// damaged one would make a dump that Import refuses, found only then.
	intact := func(sub, k, v []byte) error {
		if !isSealed(sub, v) {
			return nil // written before sums; Import seals it
		}
		var p Problem
		what := recordName(sub, k, &p)
		if _, err := checkSum(what, ts, k, v); err != nil {
			if p.CheckpointID != "" {
				return fmt.Errorf("thread %q checkpoint %s: %w", thread, p.CheckpointID, err)
			}
			return fmt.Errorf("thread %q: %w", thread, err)
		}
		return nil
	}
	census := newThreadCensus(r, thread, tallied, true, false)
	if err := r.Scan(threadPath(thread, bucketCheckpoints), nil, nil, false, func(k, v []byte) error {
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			return fmt.Errorf("thread %q: %w", thread, err)
		}
		md := r.Get(mdPath, k)
		if md == nil {
			return fmt.Errorf("%w: thread %q checkpoint %s has no metadata", ErrCorrupt, thread, idString(id))
		}
		if err := intact(bucketCheckpoints, k, v); err != nil {
			return err
		}
		if err := intact(bucketMetadata, k, md); err != nil {
			return err
		}
		// The pair decodes as Import decodes it: a record's sum does not
		// name its bucket, so a damaged bucket header of the thread that
		// points md at cp's pages (the keys alike) gives sound sums and a
		// dump Import refuses at this line (TestH235MetadataBucket...).
		if _, err := decodeCheckpointRecord(ts, k, v); err != nil {
			return fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(id), err)
		}
		if _, err := decodeMetadata(ts, k, md); err != nil {
			return fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(id), err)
		}
		if err := census.add(bucketCheckpoints, k, v); err != nil {
			return err
		}
		sum.Checkpoints++
		if err := emit(&dumpRecord{Kind: "checkpoint", Thread: dumpName(thread), NS: dumpName(ns), ID: idString(id), Data: v, Metadata: md}); err != nil {
			return err
		}
		return ctx.Err()
	}); err != nil {
		return err
	}
	if err := r.Scan(threadPath(thread, bucketBlobs), nil, nil, false, func(k, v []byte) error {
		ns, ch, ver, err := parseBlobKey(k)
		if err != nil {
			return fmt.Errorf("thread %q: %w", thread, err)
		}
		if err := intact(bucketBlobs, k, v); err != nil {
			return err
		}
		if err := census.add(bucketBlobs, k, v); err != nil {
			return err
		}
		sum.Values++
		if err := emit(&dumpRecord{Kind: "value", Thread: dumpName(thread), NS: dumpName(ns), Channel: dumpName(ch), Version: dumpName(ver), Data: v}); err != nil {
			return err
		}
		return ctx.Err()
	}); err != nil {
		return err
	}
	if err := r.Scan(threadPath(thread, bucketWrites), nil, nil, false, func(k, v []byte) error {
		ns, id, task, idx, err := parseFullWriteKey(k)
		if err != nil {
			return fmt.Errorf("thread %q: %w", thread, err)
		}
		if err := intact(bucketWrites, k, v); err != nil {
			return err
		}
		if err := census.add(bucketWrites, k, v); err != nil {
			return err
		}
		sum.Writes++
		if err := emit(&dumpRecord{Kind: "write", Thread: dumpName(thread), NS: dumpName(ns), ID: idString(id), Task: dumpName(task), Idx: &idx, Data: v}); err != nil {
			return err
		}
		return ctx.Err()
	}); err != nil {
		return err
	}
	if err := r.Scan(threadPath(thread, bucketSegments), nil, nil, false, func(k, v []byte) error {
		ns, ch, lineage, start, err := parseSegmentKey(k)
		if err != nil {
			return fmt.Errorf("thread %q: %w", thread, err)
		}
		if err := intact(bucketSegments, k, v); err != nil {
			return err
		}
		if err := census.add(bucketSegments, k, v); err != nil {
			return err
		}
		sum.Segments++
		if err := emit(&dumpRecord{Kind: "segment", Thread: dumpName(thread), NS: dumpName(ns), Channel: dumpName(ch), Lineage: &lineage, Start: &start, Data: v}); err != nil {
			return err
		}
		return ctx.Err()
	}); err != nil {
		return err
	}
	return census.done()
}
