package ckpt

// Import of a dump (export.go has the format): all or nothing. The records
// are written under an import mark in bounded batches; a failed, cancelled
// or killed import is rolled back (now, or at the next Open), and ImportFile
// builds a new file beside the path and renames it into place only once
// complete.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// ImportOptions tune Import.
type ImportOptions struct {
	// Progress, if set, is called after each committed batch with the
	// records imported so far.
	Progress func(records int64)
}

// importRec is one validated dump record, ready to write.
type importRec struct {
	thread  string
	puts    []kvPut
	lineage uint64 // the lineage a list segment or reference names: new lineages must number above it
	// A pending write's checkpoint: its id and namespace, whose history
	// entry's tally counts it (write_tally.go).
	write *cpRef
	// A checkpoint's id, for the floor of new ids (Import observes the
	// newest once the dump is in).
	cpID  [idLen]byte
	hasID bool
}

type kvPut struct {
	p    bucketPath
	k, v []byte
}

// Import reads a dump (see Export) from r and writes its threads into the
// store in bounded batches. A thread that already exists in the store is
// ErrExists. Every record is checked (it must decode) before it is written;
// records of a dump made before format 3 get their checksums. Its batches
// commit Sync on an Async store too (NoSync stays NoSync): it returns nil
// only once the dump is in.
//
// All or nothing: on any error — a malformed or truncated dump (ErrDump,
// naming the line), an existing thread, a failed write, ctx ending — the
// threads this import created are deleted again, so the store is left as
// it was. If the process dies mid-import, the next read-write Open deletes
// them: every batch records the threads it starts in the imports/ bucket
// in its own transaction (through the write-ahead log), and one last
// transaction drops that record when the whole dump is in. Until then
// reads do not see the threads being imported (they are written
// half-way: a dump gives a thread's checkpoints before their values); a
// write into one of them meanwhile is not read either, and is deleted
// with it if the import fails.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (DumpSummary, error) {
	var sum DumpSummary
	if s.readOnly {
		// Refused before its first write: its undo, a write too, would
		// be refused in turn, and be reported left to the next Open.
		return sum, ErrReadOnly
	}
	if err := s.refusePlain(); err != nil {
		return sum, err
	}
	if err := s.checkPagesFirst(ctx, "import"); err != nil {
		return sum, err // its undo deletes: not over damage it would spread
	}
	// Reads hide the threads until they are published or deleted again
	// (hideImporting); for the store's life if the undo fails, which
	// leaves them half-written until the next read-write Open deletes
	// them.
	end := s.eng.Unpublished()
	left := false
	defer func() {
		if !left {
			end()
		}
	}()
	var id [idLen]byte
	if _, err := rand.Read(id[:]); err != nil {
		return sum, fmt.Errorf("ckpt: import: %w", err)
	}
	seals := s.importSeals.begin()
	defer s.importSeals.end(seals)
	started := map[string]bool{}
	var newest [idLen]byte // the newest checkpoint id read
	err := s.importDump(ctx, r, opts, id, seals, started, &sum, &newest)
	if err == nil {
		err = s.checkImported(ctx, started)
	}
	if err == nil {
		// New ids sort after the imported ones from now on; not before
		// the dump is in: an Import that fails is undone and must not
		// leave its ids as the floor (the largest ULID would leave no id
		// for any later Save, h222_refused_import_floor_test.go).
		s.ids.observe(newest)
	}
	if err == nil {
		// Publish: the threads stay from now on.
		err = s.maintain(ctx, func(w writer) error { return endImport(w, id) })
	}
	if err != nil {
		if uerr := s.rollbackImport(context.WithoutCancel(ctx), id); uerr != nil {
			err = errors.Join(err, fmt.Errorf("ckpt: import: undo (the next read-write Open finishes it): %w", uerr))
			left = true
		}
	}
	return sum, err
}

// errEmptyDump is the error of an import whose input holds no byte.
var errEmptyDump = fmt.Errorf("%w: the input is empty", ErrDump)

// checkDumpHeader checks b, a dump's first line: Export's header, of the
// format this build reads.
func checkDumpHeader(b []byte) error {
	var hdr dumpHeader
	if json.Unmarshal(b, &hdr) != nil || hdr.Version == 0 {
		return fmt.Errorf("%w: line 1: not a ckpt dump (no {\"ckpt_export\":N} header)", ErrDump)
	}
	if hdr.Version != exportVersion {
		return fmt.Errorf("%w: dump format %d, this build reads %d", ErrFormatVersion, hdr.Version, exportVersion)
	}
	return nil
}

// CheckDumpHeader reads the first line of a dump from r and checks it as
// Import does: an input that is no dump (ErrDump) or a dump of a format
// this build does not read (ErrFormatVersion) is refused. On success it
// returns a reader of the whole input, that line included, to give to
// Import. A read-write Open writes to the file (the log's binding,
// bbolt's meta pages): a program that opens a store only to import into
// it checks the header first, so that an input refused at its first line
// leaves the file byte-identical (ImportFile and 'ckpt import' do).
func CheckDumpHeader(r io.Reader) (io.Reader, error) {
	// A header is a few bytes: a first line longer than the buffer is
	// no header (its start fails the check) and is not read further.
	br := bufio.NewReaderSize(r, 4096)
	b, err := br.ReadSlice('\n')
	switch {
	case len(b) == 0 && errors.Is(err, io.EOF):
		return nil, errEmptyDump
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull):
		return nil, err
	}
	if err := checkDumpHeader(b); err != nil {
		return nil, err
	}
	return io.MultiReader(bytes.NewReader(bytes.Clone(b)), br), nil
}

// checkImported reads back each thread an import wrote, before it is
// published, through Export's walk and its checks (exportThread, a
// threadCensus): every value a checkpoint names is there, every list
// lineage holds the items its versions need, the pending writes are what
// the tallies count. Each record of a dump is checked alone as it is read
// (its sum, its decoding) and the end line's counts against the lines,
// but a dump missing a value or a list segment with its counts edited to
// agree (a line deleted by hand or by a tool) imported into a store whose
// reads of it failed (TestImportOfADumpMissingARecordFailsOrVerifies).
// What the walk finds wrong in the records is the dump's fault (ErrDump:
// the threads are new, written by this import); a failed read, and bbolt
// failing on a damaged page on the way (engine.FromPanic: the store's
// damage, not the dump's), stay what they are. Cost:
// one read of what was imported, a fraction of writing it.
func (s *Store) checkImported(ctx context.Context, threads map[string]bool) error {
	discard := func(*dumpRecord) error { return nil }
	for _, thread := range slices.Sorted(maps.Keys(threads)) {
		err := s.eng.ViewUnpublished(ctx, func(r reader) error {
			var sum DumpSummary
			return exportThread(ctx, r, thread, !s.untallied, !s.unlisted, discard, &sum)
		})
		if err != nil {
			return readBackErr(thread, err)
		}
	}
	return nil
}

// readBackErr is the error of checkImported's read of thread: ErrDump for
// what the records lack, the read's own error otherwise.
func readBackErr(thread string, err error) error {
	if errors.Is(err, ErrCorrupt) && !engine.FromPanic(err) {
		return fmt.Errorf("%w: thread %q does not read back whole: %v", ErrDump, thread, err)
	}
	return err
}

// rollbackImport deletes the threads import id created, one transaction
// per thread (with its mark, so a rollback that dies is resumed), then the
// import's bucket.
func (s *Store) rollbackImport(ctx context.Context, id [idLen]byte) error {
	undone := map[string]bool{}
	for {
		var threads []string
		err := s.view(ctx, func(r reader) error {
			return r.Scan(importPath(id), nil, nil, false, func(k, _ []byte) error {
				threads = append(threads, string(k))
				return keepScanning(len(threads) < 256)
			})
		})
		if err != nil {
			return err
		}
		if len(threads) == 0 {
			return s.maintain(ctx, func(w writer) error { return endImport(w, id) })
		}
		for _, t := range threads {
			if undone[t] {
				// Its mark was deleted and is read again: a mark that
				// damage put out of its page's order cannot be found to
				// be deleted, and would come back on every read.
				return fmt.Errorf("%w: import %s: thread %q is still marked after its rollback (a damaged page)", ErrCorrupt, idString(id), t)
			}
			undone[t] = true
			err := s.maintain(ctx, func(w writer) error {
				if err := deleteThread(w, t); err != nil {
					return err
				}
				return unmarkImport(w, id, t)
			})
			if err != nil {
				return fmt.Errorf("thread %q: %w", t, err)
			}
		}
	}
}

// rollbackImports deletes the threads of every import a previous run left
// unfinished (the process died mid-import). It runs in a read-write Open,
// and refuses a file whose marks damage changed (import_marks.go): the
// import's threads cannot be told from the file's.
func (s *Store) rollbackImports(ctx context.Context) error {
	defer s.eng.Unpublished()()
	var ids, stale [][idLen]byte
	err := s.view(ctx, func(r reader) (err error) {
		_, ids, stale, err = checkedImports(r)
		return err
	})
	if err != nil {
		return fmt.Errorf("undo an unfinished import: %w", err)
	}
	for _, id := range stale {
		// Rolled back by an older build, which left its entry.
		if err := s.maintain(ctx, func(w writer) error { return endImport(w, id) }); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := s.rollbackImport(ctx, id); err != nil {
			return fmt.Errorf("undo an unfinished import: %w", err)
		}
	}
	return nil
}

func (s *Store) importDump(ctx context.Context, r io.Reader, opts ImportOptions, id [idLen]byte, seals *[]uint32, started map[string]bool, sum *DumpSummary, newest *[idLen]byte) error {
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
			return errEmptyDump
		}
		return err
	}
	if err := checkDumpHeader(b); err != nil {
		return err
	}
	var batch []importRec
	batchBytes := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var sealed []uint32 // sealed records make this an encrypted store (crypt.go)
		sealImported(s.keys, batch)
		found, err := importedSealIDs(batch)
		if err == nil {
			// Before the batch is sent: a Rekey's marker keeps them (crypt_import.go).
			s.importSeals.add(seals, found)
			err = s.maintain(ctx, func(w writer) (err error) {
				if err = applyImport(w, id, batch, started); err == nil {
					sealed, err = markImported(w, found)
				}
				return err
			})
		}
		if errors.Is(err, ErrExists) {
			// The message names the thread; the batch's last line says
			// nothing about where it is in the dump.
			return err
		}
		if err != nil {
			return fmt.Errorf("ckpt: import (before line %d): %w", line+1, err)
		}
		s.noteSealed(sealed)
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
		if ir.hasID && bytes.Compare(ir.cpID[:], newest[:]) > 0 {
			*newest = ir.cpID
		}
		if !threads[ir.thread] {
			threads[ir.thread] = true
			sum.Threads++
		}
		batch = append(batch, ir)
		batchBytes += len(b)
		if len(batch) >= s.tune.importBatchRecords || batchBytes >= s.tune.importBatchBytes {
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
	// A record of format 6 is checked under the dump's thread: a dump whose
	// thread was changed fails here, as its sealed records would not open.
	ts := seedOf(thread)
	switch rec.Kind {
	case "checkpoint":
		id, err := parseID("checkpoint id", rec.ID)
		if err != nil {
			return ir, err
		}
		key := checkpointKey(ns, id)
		if _, err := decodeCheckpointRecord(ts, key, rec.Data); err != nil {
			return ir, fmt.Errorf("checkpoint %s: %w", rec.ID, err)
		}
		if _, err := decodeMetadata(ts, key, rec.Metadata); err != nil {
			return ir, fmt.Errorf("checkpoint %s: %w", rec.ID, err)
		}
		ir.cpID, ir.hasID = id, true
		data := importedRecord(bucketCheckpoints, ts, key, rec.Data)
		md := importedRecord(bucketMetadata, ts, key, rec.Metadata)
		ir.puts = []kvPut{
			{threadPath(thread, bucketCheckpoints), key, data},
			{threadPath(thread, bucketMetadata), key, md},
			{threadPath(thread, bucketOrder), orderKey(id, ns), nil}, // (a checkpoint given twice keeps its tally: applyImport)
			{bucketPath{bucketIndex}, indexKey(id, thread, ns), nil},
			{dirPath, nsDirKey(thread, ns), nil}, // the namespace listed (thread_dir.go)
		}
		sum.Checkpoints++
	case "value":
		ch, ver := string(rec.Channel), string(rec.Version)
		if err := validChannel(ch, ver); err != nil {
			return ir, err
		}
		key := blobKey(ns, ch, ver)
		if err := checkBlobRecord(ts, key, rec.Data); err != nil {
			return ir, fmt.Errorf("channel %q version %q: %w", ch, ver, err)
		}
		ir.puts = []kvPut{{threadPath(thread, bucketBlobs), key, importedRecord(bucketBlobs, ts, key, rec.Data)}}
		// A list reference names its lineage: new lineages must number
		// above it even when the dump holds none of its segments (an empty
		// list has none), or a new keyframe would reuse its id and write
		// over the deltas later appended to it.
		if kind, body, err := blobKind(ts, key, rec.Data); err == nil && kind == blobListRef {
			if ref, err := decodeListRef(body); err == nil {
				ir.lineage = ref.lineage
			}
		}
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
		key := writeKey(ns, id, task, *rec.Idx)
		if _, err := decodeWriteRecord(ts, key, rec.Data); err != nil {
			return ir, fmt.Errorf("write of task %q: %w", task, err)
		}
		ir.puts = []kvPut{{threadPath(thread, bucketWrites), key, importedRecord(bucketWrites, ts, key, rec.Data)}}
		ir.write = &cpRef{ns, id}
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
		seg, err := decodeSegment(ts, k, rec.Data)
		if err == nil && !seg.sealed && tooDeepItems(seg.items) { // reads would refuse it (depth.go)
			err = fmt.Errorf("%w: %v", ErrCorrupt, errTooDeep)
		}
		if err != nil {
			return ir, fmt.Errorf("list segment of channel %q: %w", ch, err)
		}
		ir.puts = []kvPut{{threadPath(thread, bucketSegments), k, importedRecord(bucketSegments, ts, k, rec.Data)}}
		ir.lineage = *rec.Lineage
		sum.Segments++
	default:
		return ir, fmt.Errorf("unknown record kind %q", rec.Kind)
	}
	return ir, nil
}

// applyImport writes one batch; it checks first that no thread it starts
// already exists in the store, and marks the threads it starts as import
// id's, in the same transaction as their first records.
func applyImport(w writer, id [idLen]byte, batch []importRec, started map[string]bool) error {
	seen := map[string]bool{}
	var marks []string
	for _, rec := range batch {
		if started[rec.thread] || seen[rec.thread] {
			continue
		}
		seen[rec.thread] = true
		if w.Exists(bucketPath{bucketThreads, []byte(rec.thread)}) {
			return fmt.Errorf("%w: thread %q is already in the store (delete it first or import into another file)", ErrExists, rec.thread)
		}
		if err := noteThread(w, rec.thread); err != nil {
			return err
		}
		marks = append(marks, rec.thread)
	}
	if err := markImport(w, id, marks); err != nil {
		return err
	}
	// The pending writes the batch adds, counted per checkpoint into the
	// tallies once the batch is written (a dump may name a write twice:
	// its key is counted once). A dump gives a thread's checkpoints before
	// its pending writes (exportThread), so a write whose checkpoint is not
	// stored yet is a malformed dump, not a write to keep without a tally.
	type tallied struct {
		thread string
		ref    cpRef
	}
	var added map[tallied]writeTally
	for _, rec := range batch {
		if c := rec.write; c != nil {
			if w.Get(threadPath(rec.thread, bucketCheckpoints), checkpointKey(c.ns, c.id)) == nil {
				return fmt.Errorf("%w: thread %q: a pending write of checkpoint %s comes before the checkpoint", ErrDump, rec.thread, idString(c.id))
			}
		}
		for _, p := range rec.puts {
			if rec.write != nil {
				if added == nil {
					added = map[tallied]writeTally{}
				}
				at := tallied{rec.thread, *rec.write}
				t := added[at]
				if old := w.Get(p.p, p.k); old == nil {
					t.add(p.k, p.v)
				} else {
					t.replaced(p.k, old, p.v) // a dump naming a write twice: the last wins
				}
				added[at] = t
			}
			if p.v == nil && bytes.Equal(p.p[len(p.p)-1], bucketOrder) && len(w.Get(p.p, p.k)) > 0 {
				continue // a checkpoint given again: its entry keeps its tally
			}
			if err := w.Put(p.p, p.k, p.v); err != nil {
				return err
			}
		}
		if rec.lineage > 0 {
			if err := w.RaiseSeq(threadPath(rec.thread, bucketSegments), rec.lineage); err != nil {
				return err
			}
		}
	}
	for at, t := range added {
		if err := addToTally(w, at.thread, orderKey(at.ref.id, at.ref.ns), t); err != nil {
			return err
		}
	}
	return nil
}
