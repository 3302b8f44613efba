package ckpt

// Reading tuples: GetTuple and List pages.
//
// A tuple is a checkpoint header, its metadata, one blob per channel (a
// list channel: a reference and the segments it covers) and a seek into its
// pending writes. Issue 18 measured a W1 GetTuple at 108 allocations and a
// List of 10 at about 850, most of them small and made again for every
// tuple: bucket paths, keys, a cursor per scan, one string per key and
// value, one copy per channel value and per pending write. A tupleReader
// makes those once per read (a GetTuple, a List page) and copies what a
// tuple hands out of the snapshot in a few blocks: every value and pending
// write of a tuple in one []byte (each Raw a full slice expression of it,
// so an append to one never reaches its neighbour), the strings of its
// pending writes in one string. The price: a Raw (or a string) kept alone
// keeps the rest of its tuple's block alive, as a whole Tuple kept would.
// The figures are in bench/RESULTS.md ("Issue 18: read path profile").
//
// Every record is still checked (checksum, then decoding) as before: the
// fast path only changes where the bytes are copied to. Whatever it does not
// handle (a sealed value or write, an older record version, anything that
// fails) goes the general way (resolveBlob, loadWrites), which makes the
// same error or value it always did.

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/oklog/ulid/v2"
)

// tupleReader reads checkpoints of one thread at a time inside one read.
// The slices it keeps point into the read's snapshot: it must not outlive
// the read.
type tupleReader struct {
	r       reader
	kr      *keyring
	opener  engine.BucketOpener // r, when it hands out buckets (tupleread_buckets.go)
	handles [6]engine.Bucket    // by the index of the path in paths (bCP, ...)
	opened  uint8               // bit i: handles[i] is the thread's; threadOpened: threadBucket is
	// threadBucket is threads/<thread>, the parent of the six.
	threadBucket engine.Bucket

	thread                  string
	seed                    threadSeed // thread's, for the record sums (seedOf)
	name                    []byte     // thread, shared by the paths below (in nameBuf's room when short)
	paths                   [6][3][]byte
	cp, md, wr, bl, ls, ids bucketPath
	// untallied: the file keeps no write tallies (format 6 or before,
	// opened read-only), so pending writes are read unchecked.
	untallied bool
	// unlisted: the file lists no namespaces in its directory (format 7
	// or before, opened read-only): a read that finds nothing looks for
	// the thread alone (thread_dir.go).
	unlisted bool

	key  []byte // the checkpoint's key (cp and md), the prefix of its writes
	kbuf []byte // other keys: blob keys, segment prefixes, seek bounds
	rec  checkpointRecord

	// What a tuple copies out of the snapshot, gathered before one copy.
	parts  []valuePart
	pieces [][]byte
	writes []rawWrite
	text   []byte // the strings of the pending writes, end to end
	sbuf   []byte // every string of a tuple, end to end

	// State of the scan callbacks, bound once (a method value is an
	// allocation each time it is made).
	found, foundVal []byte
	walk            segmentWalk
	onLatest        func(k, v []byte) error
	onSegment       func(k, v []byte) error
	onWrite         func(k, v []byte) error

	// Where the previous tuple's values were, and this one's as it reads
	// them (tupleread_memo.go), when the read is a List page (listing): a
	// GetTuple reads one tuple.
	memo, nextMemo []blobMemo
	listing        bool
	cut            itemEnds
	lineages       []lineageMemo // the list segments the page read, by lineage
	hist           histCheck     // a namespace walk's page against the history (list_history.go)

	// block, when not nil, is the caller's block of memory (a Reader's)
	// that copyOut copies the tuple's value bytes into, replacing it with
	// a larger one when they do not fit.
	block *[]byte

	// Room for a W1-sized tuple's scratch in the reader's own allocation.
	nameBuf   [48]byte
	keyBuf    [64]byte
	kbufBuf   [128]byte
	textBuf   [128]byte
	sbufBuf   [512]byte
	partsBuf  [4]valuePart
	piecesBuf [8][]byte
	writesBuf [4]rawWrite
	endsBuf   [64]int
	memoBuf   [2][4]blobMemo // memo and nextMemo
}

// tupleReaders keeps readers, with their bound callbacks and grown
// scratch space, from one read to the next.
var tupleReaders = sync.Pool{New: func() any {
	t := new(tupleReader)
	t.onLatest = t.latest
	t.onSegment = t.segment
	t.onWrite = t.write
	t.hist.on = t.hist.order
	t.hist.onThread, t.hist.onOrder = t.indexThread, t.indexOrder
	t.hist.onDir = t.dirNamespace
	t.key, t.kbuf, t.text, t.sbuf = t.keyBuf[:0], t.kbufBuf[:0], t.textBuf[:0], t.sbufBuf[:0]
	t.parts, t.pieces, t.writes = t.partsBuf[:0], t.piecesBuf[:0], t.writesBuf[:0]
	t.name = t.nameBuf[:0]
	t.cut.ends = t.endsBuf[:0]
	t.memo, t.nextMemo = t.memoBuf[0][:0], t.memoBuf[1][:0]
	for i := range t.memoBuf {
		for j := range t.memoBuf[i] {
			m := &t.memoBuf[i][j]
			m.pieces = m.room[:0]
		}
	}
	return t
}}

// newTupleReader returns a reader for one read; release it when the read
// ends.
func (s *Store) newTupleReader(r reader) *tupleReader {
	t := tupleReaders.Get().(*tupleReader)
	t.r, t.kr, t.untallied, t.unlisted = r, s.keys, s.untallied, s.unlisted
	t.opener, _ = r.(engine.BucketOpener)
	return t
}

// release forgets everything of the read (nothing of its snapshot may stay
// reachable: its pages are reused) and returns t to the pool.
func (t *tupleReader) release() {
	t.r, t.kr, t.block = nil, nil, nil
	t.opener, t.handles, t.opened, t.threadBucket = nil, [6]engine.Bucket{}, 0, engine.Bucket{}
	t.thread, t.name = "", t.name[:0]
	t.paths = [6][3][]byte{}
	t.cp, t.md, t.wr, t.bl, t.ls, t.ids = nil, nil, nil, nil, nil, nil
	t.rec = checkpointRecord{}
	clear(t.parts[:cap(t.parts)])
	clear(t.pieces[:cap(t.pieces)])
	clear(t.writes[:cap(t.writes)])
	t.found, t.foundVal = nil, nil
	t.walk = segmentWalk{}
	if t.listing { // only a List page fills them: a GetTuple skips the clearing
		t.forgetMemo(&t.memo)
		t.forgetMemo(&t.nextMemo)
		t.cut = itemEnds{ends: t.cut.ends[:0]}
		t.forgetLineages()
	}
	t.listing = false
	t.hist.reset()
	t.key, t.kbuf, t.text, t.sbuf = t.key[:0], t.kbuf[:0], t.text[:0], t.sbuf[:0]
	t.parts, t.pieces, t.writes = t.parts[:0], t.pieces[:0], t.writes[:0]
	tupleReaders.Put(t)
}

// valuePart is one channel's value: pieces[from:to] of the snapshot, after
// a list header for n items when n >= 0 (a list read from its segments).
type valuePart struct {
	channel  string
	n        int
	from, to int
}

// rawWrite is a pending write as found in the snapshot, then where its
// strings and value went.
type rawWrite struct {
	k, v                []byte
	task, channel, path [2]int // in text: start, end
	value               int    // in pieces
	idx                 int
}

// segmentWalk is the state of a walk over one lineage's segments.
type segmentWalk struct {
	lineage uint64
	channel string
	n       int // items wanted
	covered int
	sealed  bool         // met a sealed segment: the general path opens it
	memo    *lineageMemo // notes the segments the walk checks (a List page), or nil
}

// setThread points the reader at thread's buckets.
func (t *tupleReader) setThread(thread string) {
	if t.cp != nil && t.thread == thread {
		return
	}
	// Copied into the reader's own room (R1 reads a new thread every
	// call): the paths are only looked up, never kept (the views copy
	// what they cache), so the next thread may overwrite it.
	t.thread, t.name = thread, append(t.name[:0], thread...)
	t.seed = seedOf(thread)
	t.opened = 0        // the handles are the last thread's
	t.memo = t.memo[:0] // blob keys are the thread's
	t.forgetLineages()  // and so are segment keys
	for i, sub := range [...][]byte{bucketCheckpoints, bucketMetadata, bucketWrites, bucketBlobs, bucketSegments, bucketOrder} {
		t.paths[i] = [3][]byte{bucketThreads, t.name, sub}
	}
	t.cp, t.md, t.wr, t.bl, t.ls, t.ids = t.paths[0][:], t.paths[1][:], t.paths[2][:], t.paths[3][:], t.paths[4][:], t.paths[5][:]
}

func (t *tupleReader) latest(k, v []byte) error {
	t.found, t.foundVal = k, v
	return errStop
}

// loadTuple reads one checkpoint with its values and pending writes; a nil
// id means the newest of (thread, ns). The tuple's value bytes are copied
// into *block when block is not nil (a Reader's: tupleReader.block).
func (s *Store) loadTuple(r reader, thread, ns string, id *[idLen]byte, block *[]byte) (*Tuple, error) {
	t := s.newTupleReader(r)
	defer t.release()
	t.setThread(thread)
	t.block = block
	return t.load(ns, id, nil, nil)
}

// metadataBody reads the metadata record of checkpoint id, checked, and
// returns its body (List's filter looks at it before the tuple is read).
func (t *tupleReader) metadataBody(ns string, id [idLen]byte) ([]byte, error) {
	t.key = append(appendLen16(t.key[:0], ns), id[:]...)
	return recordBody("metadata", t.seed, t.key, t.get(bMD, t.key), metadataRecordV1, metadataRecordV2)
}

// load reads one checkpoint of the reader's thread; a nil id means the
// newest of ns. mdBody, if not nil, is its metadata record's body, read
// and checked (List's filter looked at it), and md, if not nil, that
// metadata decoded.
func (t *tupleReader) load(ns string, id *[idLen]byte, mdBody []byte, md Metadata) (*Tuple, error) {
	t.key = appendLen16(t.key[:0], ns)
	var val []byte
	if id == nil {
		// The last key below ns's prefix followed by 0xff bytes: one seek.
		t.kbuf = append(t.kbuf[:0], t.key...)
		for range idLen + 1 {
			t.kbuf = append(t.kbuf, 0xff)
		}
		t.found, t.foundVal = nil, nil
		_ = t.scan(bCP, t.key, t.kbuf, true, t.onLatest)
		val = t.foundVal
		prefix := len(t.key)
		t.key = append(t.key[:0], t.found...)
		if mdBody == nil && md == nil {
			var err error
			if mdBody, err = t.latestMetadata(ns, prefix); err != nil {
				return nil, err
			}
		}
	} else {
		t.key = append(t.key, id[:]...)
		val = t.get(bCP, t.key)
	}
	if val == nil {
		if id == nil {
			return nil, t.absent(ns)
		}
		return nil, t.missing(ns, *id)
	}
	return t.read(ns, val, mdBody, md)
}

// loadRecord reads the checkpoint keyed key (of the reader's thread and
// namespace ns) whose header record val the caller found, as load.
func (t *tupleReader) loadRecord(ns string, key, val, mdBody []byte, md Metadata) (*Tuple, error) {
	t.key = append(t.key[:0], key...)
	return t.read(ns, val, mdBody, md)
}

// read reads the checkpoint at t.key, val its header record, as load.
func (t *tupleReader) read(ns string, val, mdBody []byte, md Metadata) (*Tuple, error) {
	thread := t.thread
	if md != nil {
		mdBody = nil // decoded, its strings its own
	}
	cid := [idLen]byte(t.key[len(t.key)-idLen:])
	cpBody, err := recordBody("checkpoint", t.seed, t.key, val, checkpointRecordV1, checkpointRecordV2)
	if err != nil {
		return nil, fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(cid), err)
	}
	if mdBody == nil && md == nil {
		mdRaw := t.get(bMD, t.key)
		if mdRaw == nil {
			return nil, fmt.Errorf("%w: checkpoint %s has no metadata", ErrCorrupt, idString(cid))
		}
		if mdBody, err = recordBody("metadata", t.seed, t.key, mdRaw, metadataRecordV1, metadataRecordV2); err != nil {
			return nil, fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(cid), err)
		}
	}
	t.parts, t.pieces = t.parts[:0], t.pieces[:0]
	writes, writesErr := t.pendingWrites(ns, cid) // reported after the values, as ever

	// Every string of the tuple is a substring of one: its id and its
	// parent's, the keys and strings of its header and metadata, the
	// strings of its pending writes.
	var ids [2 * ulid.EncodedSize]byte
	_ = ulid.ULID(cid).MarshalTextTo(ids[:ulid.EncodedSize])
	nIDs := ulid.EncodedSize
	parent, peeked := peekParent(cpBody)
	if peeked {
		_ = ulid.ULID(parent).MarshalTextTo(ids[nIDs:])
		nIDs += ulid.EncodedSize
	}
	t.sbuf = append(append(append(append(t.sbuf[:0], ids[:nIDs]...), cpBody...), mdBody...), t.text...)
	all := string(t.sbuf)
	strs := all[nIDs:]
	cpStr, mdStr, text := strs[:len(cpBody)], strs[len(cpBody):len(cpBody)+len(mdBody)], strs[len(cpBody)+len(mdBody):]

	rec := &t.rec
	if err := decodeCheckpointBody(rec, cpBody, cpStr); err != nil {
		return nil, fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(cid), err)
	}
	if md == nil {
		if md, err = decodeMetadataBody(mdBody, mdStr); err != nil {
			return nil, fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(cid), err)
		}
	}

	values := make(map[string]any, len(rec.Versions))
	for ch, ver := range rec.Versions {
		if t.listing && t.recalled(ns, ch, ver) {
			continue
		}
		t.kbuf = append(appendLen16(appendLen16(t.kbuf[:0], ns), ch), ver...) // blobKey
		b := t.get(bBL, t.kbuf)
		if b == nil {
			// Put stores a record under every version a checkpoint names
			// ("no value" too: blobEmpty), so a missing one is damage: a
			// key or page that hides it. Skipping the channel would hand
			// back a state without it.
			t.nextMemo = t.nextMemo[:0]
			return nil, errNoValue(thread, cid, ch, ver)
		}
		from, parts := len(t.pieces), len(t.parts)
		if err := t.value(ns, ch, ver, b, values); err != nil {
			t.nextMemo = t.nextMemo[:0]
			return nil, fmt.Errorf("thread %q checkpoint %s channel %q version %q: %w", thread, idString(cid), ch, ver, err)
		}
		if t.listing && len(t.parts) > parts { // gathered, not resolved the general way
			t.remember(ns, ch, ver, from)
		}
	}
	if t.listing {
		t.turnMemo()
	}
	if writesErr != nil {
		return nil, fmt.Errorf("thread %q checkpoint %s: %w", thread, idString(cid), writesErr)
	}
	// The tuple, its parent's config and its pending writes in one
	// allocation (tupleread_copy.go).
	tp, parentCfg, room := newTuple(len(t.writes))
	t.copyOut(values, text, room)
	if room != nil { // gathered (else loadWrites made them, or none)
		writes = room
	}
	idStr := all[:ulid.EncodedSize]
	*tp = Tuple{
		Config: Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: idStr},
		Checkpoint: Checkpoint{
			V: rec.V, ID: idStr, TS: time.Unix(0, rec.TS).UTC(),
			ChannelValues: values, ChannelVersions: rec.Versions, VersionsSeen: rec.VersionsSeen,
		},
		Metadata:      md,
		PendingWrites: writes,
	}
	if tp.Checkpoint.ChannelVersions == nil {
		tp.Checkpoint.ChannelVersions = map[string]string{}
	}
	if len(rec.Parent) == idLen {
		parentID := all[ulid.EncodedSize:nIDs]
		if !peeked || parent != [idLen]byte(rec.Parent) {
			parentID = idString([idLen]byte(rec.Parent)) // peekParent declined
		}
		*parentCfg = Config{ThreadID: thread, CheckpointNS: ns, CheckpointID: parentID}
		tp.ParentConfig = parentCfg
	}
	return tp, nil
}

// peekParent reads the parent id of a checkpoint header's body (a 5-array
// whose third item is the id) without decoding the rest.
func peekParent(body []byte) (id [idLen]byte, ok bool) {
	r := mpReader{b: body}
	if n, ok := r.arrayLen(); !ok || n != 5 {
		return id, false
	}
	if _, ok := r.int(); !ok {
		return id, false
	}
	if _, ok := r.int(); !ok {
		return id, false
	}
	c, ok := r.code()
	if !ok {
		return id, false
	}
	p, _, ok := r.bytesOf(c)
	if !ok || len(p) != idLen {
		return id, false
	}
	return [idLen]byte(p), true
}

// value gathers the pieces of one channel's value from its blob record b,
// or resolves it the general way (a sealed value, anything that fails).
func (t *tupleReader) value(ns, ch, ver string, b []byte, values map[string]any) error {
	kind, body, err := blobKind(t.seed, t.kbuf, b)
	if err == nil {
		switch kind {
		case blobEmpty:
			return nil
		case blobValue:
			t.pieces = append(t.pieces, body)
			t.parts = append(t.parts, valuePart{channel: ch, n: -1, from: len(t.pieces) - 1, to: len(t.pieces)})
			return nil
		case blobListRef:
			if ref, err := decodeListRef(body); err == nil && t.listPieces(ns, ch, ref) {
				return nil
			}
		}
	}
	v, ok, err := resolveBlob(t.r, t.kr, t.thread, t.seed, ns, ch, ver, b)
	if v, err = lockIfNoKeys(t.kr, v, err); err == nil && v != nil {
		ok = true
	}
	if err != nil {
		return err
	}
	if ok {
		values[ch] = v
	}
	return nil
}

// listPieces gathers the first ref.count items of a list lineage, as
// lineage.pieces reads them; false (nothing gathered) when a segment is
// sealed or anything is wrong, for the general path to open or report.
func (t *tupleReader) listPieces(ns, ch string, ref listRef) bool {
	from := len(t.pieces)
	t.walk = segmentWalk{lineage: ref.lineage, channel: ch, n: ref.count}
	if t.listing {
		m := t.lineageMemoOf(ns, ch, ref.lineage)
		if m.covered >= ref.count {
			return t.recallPieces(m, ch, from)
		}
		m.segs, m.covered = m.segs[:0], 0
		t.walk.memo = m
	}
	t.kbuf = binary.BigEndian.AppendUint64(appendLen16(appendLen16(t.kbuf[:0], ns), ch), ref.lineage) // segmentPrefix
	err := t.scan(bLS, t.kbuf, nil, false, t.onSegment)
	if err != nil || t.walk.sealed || t.walk.covered < t.walk.n {
		if m := t.walk.memo; m != nil {
			m.segs, m.covered = m.segs[:0], 0
		}
		t.walk.memo = nil
		t.pieces = t.pieces[:from]
		return false
	}
	t.walk.memo = nil
	t.parts = append(t.parts, valuePart{channel: ch, n: ref.count, from: from, to: len(t.pieces)})
	return true
}

func (t *tupleReader) segment(k, v []byte) error {
	w := &t.walk
	if w.covered >= w.n {
		return errStop
	}
	seg, err := decodeSegment(t.seed, k, v)
	if err != nil {
		return err
	}
	if seg.start != w.covered {
		return ErrCorrupt // the general path says which
	}
	if seg.sealed {
		w.sealed = true
		return errStop
	}
	if w.memo != nil {
		w.memo.segs = append(w.memo.segs, segmentRef{count: seg.count, items: seg.items})
		w.memo.covered += seg.count
	}
	return t.take(seg.count, seg.items)
}

// take gathers the items of a segment holding count items, checked, that
// starts where the walk has covered: as many as the walk still wants.
func (t *tupleReader) take(count int, p []byte) error {
	w := &t.walk
	if want := w.n - w.covered; want < count {
		cut, err := t.cutItems(p, want)
		if err != nil {
			return err
		}
		p, count = p[:cut], want
	}
	w.covered += count
	t.pieces = append(t.pieces, p)
	return nil
}

func (t *tupleReader) write(k, v []byte) error {
	t.writes = append(t.writes, rawWrite{k: k, v: v})
	return nil
}

// pendingWrites gathers the pending writes of the checkpoint at t.key:
// their strings into t.text, their values into t.pieces. It returns them
// already made when the general path (loadWrites) had to read them. What
// the scan found is checked against the checkpoint's tally first
// (write_tally.go): a write its scan cannot see is damage, not a write
// never made.
func (t *tupleReader) pendingWrites(ns string, id [idLen]byte) ([]PendingWrite, error) {
	t.writes, t.text = t.writes[:0], t.text[:0]
	_ = t.scan(bWR, t.key, nil, false, t.onWrite)
	if !t.untallied {
		var found writeTally
		for i := range t.writes {
			found.add(t.writes[i].k, t.writes[i].v)
		}
		t.kbuf = append(append(t.kbuf[:0], id[:]...), ns...) // orderKey
		b := t.get(bIDS, t.kbuf)
		if err := checkTally(t.seed, t.kbuf, b, found); err != nil {
			t.writes = t.writes[:0]
			if len(b) == 0 && !t.has(bIDS, t.kbuf) {
				err = fmt.Errorf("%w: the checkpoint's entry in the thread's history order is gone, and with it the tally of its %d pending writes", ErrCorrupt, found.n)
			}
			return nil, fmt.Errorf("namespace %q: %w", ns, err)
		}
	}
	from := len(t.pieces)
	for i := range t.writes {
		if !t.gatherWrite(&t.writes[i]) {
			t.writes, t.pieces = t.writes[:0], t.pieces[:from]
			return loadWrites(t.r, t.kr, t.thread, t.key)
		}
	}
	return nil, nil
}

// gatherWrite parses a plain checksummed pending write (what
// fastWriteRecord reads) into w; false for anything else.
func (t *tupleReader) gatherWrite(w *rawWrite) bool {
	rest := w.k[len(t.key):]
	if len(rest) < 2 {
		return false
	}
	n := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+n+4 || len(w.v) == 0 || !isVersion(w.v[0], writeRecordV2) {
		return false
	}
	body, err := checkSum("write", t.seed, w.k, w.v)
	if err != nil {
		return false
	}
	w.idx = int(int32(binary.BigEndian.Uint32(rest[2+n:]) ^ 0x80000000))
	w.task = t.addText(rest[2 : 2+n])
	r := mpReader{b: body[1:]}
	if n, ok := r.arrayLen(); !ok || n != 3 {
		return false
	}
	var ok bool
	if w.channel, ok = t.textOf(&r); !ok {
		return false
	}
	if w.path, ok = t.textOf(&r); !ok {
		return false
	}
	raw, ok := r.skip()
	if !ok || !r.done() {
		return false
	}
	w.value = len(t.pieces)
	t.pieces = append(t.pieces, raw)
	return true
}
