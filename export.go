package ckpt

// Export and import of threads as JSON lines. The dump carries every record
// as the bytes stored (base64), so a round trip loses nothing: export,
// import into a new file and export again gives identical output. Both
// directions stream: memory holds one record (export) or one bounded batch
// (import), whatever the size of the file.
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

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
}

func (d DumpSummary) records() int64 { return d.Checkpoints + d.Values + d.Writes + d.Segments }

// ExportOptions select what Export writes.
type ExportOptions struct {
	// Threads names the threads to export; empty exports all. An unknown
	// thread is ErrNotFound, before anything is written.
	Threads []string
	// Progress, if set, is called now and then with the records written.
	Progress func(records int64)
}

// Export writes threads to w as a dump (see the format above), one read
// transaction per thread.
func (s *Store) Export(ctx context.Context, w io.Writer, opts ExportOptions) (DumpSummary, error) {
	var sum DumpSummary
	threads := opts.Threads
	for _, t := range threads {
		if err := validThread(t); err != nil {
			return sum, err
		}
	}
	err := s.view(ctx, func(r reader) error {
		for _, t := range threads {
			if !r.exists(bucketPath{bucketThreads, []byte(t)}) {
				return fmt.Errorf("%w: thread %q", ErrNotFound, t)
			}
		}
		return nil
	})
	if err != nil {
		return sum, err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(dumpHeader{Version: exportVersion}); err != nil {
		return sum, err
	}
	emit := func(rec *dumpRecord) error {
		if err := enc.Encode(rec); err != nil {
			return fmt.Errorf("ckpt: export: %w", err)
		}
		if opts.Progress != nil && sum.records()%256 == 0 {
			opts.Progress(sum.records())
		}
		return nil
	}
	exportOne := func(thread string) error {
		sum.Threads++
		return s.view(ctx, func(r reader) error { return exportThread(ctx, r, thread, emit, &sum) })
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
				r.buckets(bucketPath{bucketThreads}, after, func(n []byte) bool {
					name = bytes.Clone(n)
					return false
				})
				return nil
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
	if err := enc.Encode(&dumpRecord{Kind: "end", Checkpoints: &c, Values: &v, Writes: &wr, Segments: &sg}); err != nil {
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

func exportThread(ctx context.Context, r reader, thread string, emit func(*dumpRecord) error, sum *DumpSummary) error {
	var ferr error
	fail := func(err error) bool {
		ferr = err
		return false
	}
	mdPath := threadPath(thread, bucketMetadata)
	r.scan(threadPath(thread, bucketCheckpoints), nil, nil, false, func(k, v []byte) bool {
		ns, id, err := parseCheckpointKey(k)
		if err != nil {
			return fail(fmt.Errorf("thread %q: %w", thread, err))
		}
		md := r.get(mdPath, k)
		if md == nil {
			return fail(fmt.Errorf("%w: thread %q checkpoint %s has no metadata", ErrCorrupt, thread, idString(id)))
		}
		sum.Checkpoints++
		if err := emit(&dumpRecord{Kind: "checkpoint", Thread: dumpName(thread), NS: dumpName(ns), ID: idString(id), Data: v, Metadata: md}); err != nil {
			return fail(err)
		}
		return ctx.Err() == nil || fail(ctx.Err())
	})
	if ferr != nil {
		return ferr
	}
	r.scan(threadPath(thread, bucketBlobs), nil, nil, false, func(k, v []byte) bool {
		ns, ch, ver, err := parseBlobKey(k)
		if err != nil {
			return fail(fmt.Errorf("thread %q: %w", thread, err))
		}
		sum.Values++
		if err := emit(&dumpRecord{Kind: "value", Thread: dumpName(thread), NS: dumpName(ns), Channel: dumpName(ch), Version: dumpName(ver), Data: v}); err != nil {
			return fail(err)
		}
		return ctx.Err() == nil || fail(ctx.Err())
	})
	if ferr != nil {
		return ferr
	}
	r.scan(threadPath(thread, bucketWrites), nil, nil, false, func(k, v []byte) bool {
		ns, id, task, idx, err := parseFullWriteKey(k)
		if err != nil {
			return fail(fmt.Errorf("thread %q: %w", thread, err))
		}
		sum.Writes++
		if err := emit(&dumpRecord{Kind: "write", Thread: dumpName(thread), NS: dumpName(ns), ID: idString(id), Task: dumpName(task), Idx: &idx, Data: v}); err != nil {
			return fail(err)
		}
		return ctx.Err() == nil || fail(ctx.Err())
	})
	if ferr != nil {
		return ferr
	}
	r.scan(threadPath(thread, bucketSegments), nil, nil, false, func(k, v []byte) bool {
		ns, ch, lineage, start, err := parseSegmentKey(k)
		if err != nil {
			return fail(fmt.Errorf("thread %q: %w", thread, err))
		}
		sum.Segments++
		if err := emit(&dumpRecord{Kind: "segment", Thread: dumpName(thread), NS: dumpName(ns), Channel: dumpName(ch), Lineage: &lineage, Start: &start, Data: v}); err != nil {
			return fail(err)
		}
		return ctx.Err() == nil || fail(ctx.Err())
	})
	return ferr
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Progress, if set, is called after each committed batch with the
	// records imported so far.
	Progress func(records int64)
}

// Import batches: a commit holds at most this many records or bytes.
// Variables so tests can make batches small.
var (
	importBatchRecords = 512
	importBatchBytes   = 4 << 20
)

// importRec is one validated dump record, ready to write.
type importRec struct {
	thread  string
	puts    []kvPut
	lineage uint64 // a list segment's lineage: new lineages must number above it
}

type kvPut struct {
	p    bucketPath
	k, v []byte
}

// Import reads a dump (see Export) from r and writes its threads into the
// store in bounded batches. A thread that already exists in the store is
// ErrExists. Every record is checked (it must decode) before it is written.
// On any error — a malformed or truncated dump (ErrDump, naming the line),
// an existing thread, a failed write — the threads this import created are
// deleted again, so the store is left as it was.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (DumpSummary, error) {
	var sum DumpSummary
	started := map[string]bool{}
	err := s.importDump(ctx, r, opts, started, &sum)
	if err != nil {
		undo := context.WithoutCancel(ctx)
		for t := range started {
			if derr := s.DeleteThread(undo, t); derr != nil {
				err = errors.Join(err, fmt.Errorf("ckpt: import: undoing thread %q: %w", t, derr))
			}
		}
	}
	return sum, err
}

func (s *Store) importDump(ctx context.Context, r io.Reader, opts ImportOptions, started map[string]bool, sum *DumpSummary) error {
	br := bufio.NewReaderSize(r, 64<<10)
	line := 0
	next := func() ([]byte, error) {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 || err == nil {
			line++
			return b, nil
		}
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrDump, line, fmt.Sprintf(format, args...))
	}
	b, err := next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: the input is empty", ErrDump)
		}
		return err
	}
	var hdr dumpHeader
	if json.Unmarshal(b, &hdr) != nil || hdr.Version == 0 {
		return bad("not a ckpt dump (no {\"ckpt_export\":N} header)")
	}
	if hdr.Version != exportVersion {
		return fmt.Errorf("%w: dump format %d, this build reads %d", ErrFormatVersion, hdr.Version, exportVersion)
	}
	var batch []importRec
	batchBytes := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.write(ctx, func(w writer) error { return applyImport(w, batch, started) })
		if err != nil {
			return fmt.Errorf("ckpt: import (before line %d): %w", line+1, err)
		}
		for _, rec := range batch {
			started[rec.thread] = true
		}
		batch, batchBytes = batch[:0], 0
		if opts.Progress != nil {
			opts.Progress(sum.records())
		}
		return nil
	}
	threads := map[string]bool{}
	for {
		b, err := next()
		if errors.Is(err, io.EOF) {
			return bad("the dump ends without its end record (truncated?)")
		}
		if err != nil {
			return err
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		var rec dumpRecord
		if err := json.Unmarshal(b, &rec); err != nil {
			return bad("%v", err)
		}
		if rec.Kind == "end" {
			if rec.Checkpoints == nil || rec.Values == nil || rec.Writes == nil || rec.Segments == nil ||
				*rec.Checkpoints != sum.Checkpoints || *rec.Values != sum.Values || *rec.Writes != sum.Writes || *rec.Segments != sum.Segments {
				return bad("end record does not match the records read (%d checkpoints, %d values, %d writes, %d list segments)", sum.Checkpoints, sum.Values, sum.Writes, sum.Segments)
			}
			if _, err := next(); err == nil {
				return bad("data after the end record")
			}
			return flush()
		}
		ir, err := s.prepareImport(&rec, sum)
		if err != nil {
			return bad("%v", err)
		}
		if !threads[ir.thread] {
			threads[ir.thread] = true
			sum.Threads++
		}
		batch = append(batch, ir)
		batchBytes += len(b)
		if len(batch) >= importBatchRecords || batchBytes >= importBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// prepareImport validates one record and turns it into the puts that store
// it.
func (s *Store) prepareImport(rec *dumpRecord, sum *DumpSummary) (importRec, error) {
	thread, ns := string(rec.Thread), string(rec.NS)
	ir := importRec{thread: thread}
	if err := validConfig(Config{ThreadID: thread, CheckpointNS: ns}); err != nil {
		return ir, err
	}
	switch rec.Kind {
	case "checkpoint":
		id, err := parseID("checkpoint id", rec.ID)
		if err != nil {
			return ir, err
		}
		if _, err := decodeCheckpointRecord(rec.Data); err != nil {
			return ir, fmt.Errorf("checkpoint %s: %w", rec.ID, err)
		}
		if _, err := decodeMetadata(rec.Metadata); err != nil {
			return ir, fmt.Errorf("checkpoint %s: %w", rec.ID, err)
		}
		s.ids.observe(id)
		key := checkpointKey(ns, id)
		ir.puts = []kvPut{
			{threadPath(thread, bucketCheckpoints), key, rec.Data},
			{threadPath(thread, bucketMetadata), key, rec.Metadata},
			{threadPath(thread, bucketOrder), orderKey(id, ns), nil},
			{bucketPath{bucketIndex}, indexKey(id, thread, ns), nil},
		}
		sum.Checkpoints++
	case "value":
		ch, ver := string(rec.Channel), string(rec.Version)
		if err := validChannel(ch, ver); err != nil {
			return ir, err
		}
		if err := checkBlobRecord(rec.Data); err != nil {
			return ir, fmt.Errorf("channel %q version %q: %w", ch, ver, err)
		}
		ir.puts = []kvPut{{threadPath(thread, bucketBlobs), blobKey(ns, ch, ver), rec.Data}}
		sum.Values++
	case "write":
		id, err := parseID("checkpoint id", rec.ID)
		if err != nil {
			return ir, err
		}
		task := string(rec.Task)
		if err := validName("task id", task, MaxNameLen); err != nil {
			return ir, err
		}
		if rec.Idx == nil {
			return ir, errors.New("write without idx")
		}
		if _, err := decodeWriteRecord(rec.Data); err != nil {
			return ir, fmt.Errorf("write of task %q: %w", task, err)
		}
		ir.puts = []kvPut{{threadPath(thread, bucketWrites), writeKey(ns, id, task, *rec.Idx), rec.Data}}
		sum.Writes++
	case "segment":
		ch := string(rec.Channel)
		if err := validName("channel name", ch, MaxNameLen); err != nil {
			return ir, err
		}
		if rec.Lineage == nil || rec.Start == nil || *rec.Start < 0 {
			return ir, errors.New("list segment without lineage or start")
		}
		k := segmentKey(ns, ch, *rec.Lineage, *rec.Start)
		if _, err := decodeSegment(k, rec.Data); err != nil {
			return ir, fmt.Errorf("list segment of channel %q: %w", ch, err)
		}
		ir.puts = []kvPut{{threadPath(thread, bucketSegments), k, rec.Data}}
		ir.lineage = *rec.Lineage
		sum.Segments++
	default:
		return ir, fmt.Errorf("unknown record kind %q", rec.Kind)
	}
	return ir, nil
}

// applyImport writes one batch; it checks first that no thread it starts
// already exists in the store.
func applyImport(w writer, batch []importRec, started map[string]bool) error {
	seen := map[string]bool{}
	for _, rec := range batch {
		if started[rec.thread] || seen[rec.thread] {
			continue
		}
		seen[rec.thread] = true
		if w.exists(bucketPath{bucketThreads, []byte(rec.thread)}) {
			return fmt.Errorf("%w: thread %q is already in the store (delete it first or import into another file)", ErrExists, rec.thread)
		}
	}
	for _, rec := range batch {
		for _, p := range rec.puts {
			if err := w.put(p.p, p.k, p.v); err != nil {
				return err
			}
		}
		if rec.lineage > 0 {
			if err := w.raiseSeq(threadPath(rec.thread, bucketSegments), rec.lineage); err != nil {
				return err
			}
		}
	}
	return nil
}
