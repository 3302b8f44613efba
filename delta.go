package ckpt

// Append-deltas for list channels: linear storage for growing histories.
//
// An agent's `messages` channel grows by one item per step. Stored whole at
// every version, history costs the square of its length. Instead, every
// list value is stored as a reference (lineage, n): "the first n items of
// lineage L". A lineage is a run of segments in the ls/ bucket, keyed by
// (lineage, first item index), each holding the raw msgpack bytes of
// consecutive items. When a new version of a channel is a list whose leading
// items are byte-for-byte the items of the version it derives from, and that
// version ends its lineage, only the appended items are written, as one
// segment (a delta). Anything else (an edit in the middle, a shorter list, a
// fork from an older version) starts a new lineage holding the whole list
// (a keyframe). Non-list values are stored whole as before.
//
// Read cost is bounded: every K trailing deltas (Options.DeltaFold) are
// folded into one segment of level 1, and every K trailing segments of one
// level into one of the next (a counter in base K), so reading n items
// touches at most K-1 segments per level, about (K-1)·log_K(n), all
// adjacent in key order (one seek, then sequential steps), and a version's
// bytes are rebuilt exactly as they were encoded: the canonical array
// header followed by the items. Each item is written once as a delta and
// once more per level it is folded into. Why levels: with one level (K=32,
// folded segments never merged again) W1's R1 read 19 segments of a
// 50-item list (one folded, 18 deltas), each a record with its own seek
// step, checksum and decoding: 24% of a read's instructions.

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

const (
	// blobRecordV2 adds the list-reference kind.
	blobRecordV2 byte = 2
	blobListRef  byte = 2
	// blobSealed is a value sealed with Options.Encryption (crypt.go), in
	// blob records of version blobRecordV3 only.
	blobSealed byte = 3

	// blobRecordV3 is every blob kind with a checksum (format 3, codec.go).
	// It is 4, not 3: 3 is one flipped bit away from both 1 and 2, and a
	// flip there would turn a checked record into an unchecked one.
	blobRecordV3 byte = 4

	segmentRecordV1 byte = 1
	// segmentRecordV2 adds the checksum (format 3).
	segmentRecordV2 byte = 2
	segmentFolded   byte = 1 // flag: a keyframe or folded run, not a delta
	// A folded segment's level (1: K deltas, 2: K segments of level 1,
	// ...) is in the flags above segmentFolded. Level 0 folded is a
	// keyframe, or a folded run of a build before levels: never merged
	// again (older builds ignore these bits and read the segment alike).
	segmentLevelShift = 1
	maxSegmentLevel   = 0x7f
	// segmentRecordV4 is a checksummed segment whose items are sealed
	// (crypt.go): a record version, not a flag, so that a build without
	// encryption refuses it (ErrFormatVersion) instead of reading the
	// sealed bytes as items. 4, not 3: see blobRecordV3.
	segmentRecordV4 byte = 4

	// Format 4: the same records with an XXH3 sum (codec.go, sumXXH3).
	blobRecordX     = blobRecordV3 | sumXXH3
	segmentRecordX  = segmentRecordV2 | sumXXH3
	segmentRecordX4 = segmentRecordV4 | sumXXH3

	// Format 5: the sum covers the record's key (sumKeyed).
	blobRecordK     = blobRecordX | sumKeyed
	segmentRecordK  = segmentRecordX | sumKeyed
	segmentRecordK4 = segmentRecordX4 | sumKeyed

	// Format 6: the sum covers the record's thread and key (sumThreaded);
	// what this build writes.
	blobRecordT     = blobRecordV3 | sumThreaded
	segmentRecordT  = segmentRecordV2 | sumThreaded
	segmentRecordT4 = segmentRecordV4 | sumThreaded

	// defaultDeltaFold is K: deltas folded into one segment, and segments
	// of one level into one of the next. 8: W1's 50-item list reads in at
	// most 8 segments (19 with one level and K=32), a 2,000-item one in at
	// most 22 (BenchmarkDeltaFold, bench/RESULTS.md), each item written
	// about once per level (once up to 64 items, as K=32 with one level did).
	defaultDeltaFold = 8
	// foldBytes folds trailing deltas early once they hold this much, so a
	// few huge appends do not leave many large segments to read.
	foldBytes = 256 << 10
)

// listRef is a stored list version: the first count items of lineage.
type listRef struct {
	lineage uint64
	count   int
}

// encodeListRef encodes a list reference stored under key in the thread of
// seed ts.
func encodeListRef(ts threadSeed, key []byte, ref listRef) []byte {
	b := append(make([]byte, 0, 2+2*binary.MaxVarintLen64+sumLen), blobRecordT, blobListRef)
	b = binary.AppendUvarint(b, ref.lineage)
	return appendSum(ts, key, binary.AppendUvarint(b, uint64(ref.count)))
}

func decodeListRef(body []byte) (listRef, error) {
	l, n := binary.Uvarint(body)
	if n <= 0 {
		return listRef{}, fmt.Errorf("%w: list reference lineage", ErrCorrupt)
	}
	c, m := binary.Uvarint(body[n:])
	if m <= 0 || n+m != len(body) {
		return listRef{}, fmt.Errorf("%w: list reference count", ErrCorrupt)
	}
	return listRef{lineage: l, count: int(c)}, nil
}

// listHeader parses the header of a msgpack array.
func listHeader(b []byte) (n, hdrLen int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c >= 0x90 && c <= 0x9f:
		return int(c & 0x0f), 1, true
	case c == 0xdc && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), 3, true
	case c == 0xdd && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), 5, true
	}
	return 0, 0, false
}

// appendListHeader appends the canonical (shortest) array header, the one
// msgpack's encoder writes.
func appendListHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x90|byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, 0xdc), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(dst, 0xdd), uint32(n))
	}
}

// itemsLen returns how many bytes the first k msgpack items of b take.
// The fast reader (fastdec.go) walks them in place; what it declines,
// msgpack's decoder measures (or reports).
func itemsLen(b []byte, k int) (int, error) {
	fr := mpReader{b: b}
	for range k {
		if _, ok := fr.skip(); !ok {
			return itemsLenSlow(b, k)
		}
	}
	return fr.i, nil
}

func itemsLenSlow(b []byte, k int) (int, error) {
	if tooDeepItems(b) { // before msgpack's Skip recurses into it (depth.go)
		return 0, fmt.Errorf("%w: list segment: %v", ErrCorrupt, errTooDeep)
	}
	r := bytes.NewReader(b)
	dec := msgpack.NewDecoder(r)
	for range k {
		if err := dec.Skip(); err != nil {
			return 0, fmt.Errorf("%w: list segment: %v", ErrCorrupt, err)
		}
	}
	return len(b) - r.Len(), nil
}

type segment struct {
	key    []byte // valid only inside the transaction
	start  int
	count  int
	folded bool
	flags  byte   // as stored: folded and level
	sealed bool   // items is an envelope (crypt.go)
	items  []byte // valid only inside the transaction
}

// level returns the fold level of seg: 0 for a delta, 1.. for a folded
// run, -1 for a keyframe or a folded run without a level (never merged).
func (seg segment) level() int {
	if !seg.folded {
		return 0
	}
	if l := int(seg.flags >> segmentLevelShift); l > 0 {
		return l
	}
	return -1
}

// foldedFlags returns the flags of a folded segment of level (0: a
// keyframe).
func foldedFlags(level int) byte {
	return segmentFolded | byte(min(level, maxSegmentLevel))<<segmentLevelShift
}

// encodeSegment encodes a segment with flags (0: a delta; foldedFlags)
// stored at key of thread's segments (ts is the thread's seed); with a
// keyring the items are sealed for that place.
func encodeSegment(kr *keyring, thread string, ts threadSeed, key []byte, count int, flags byte, items []byte) []byte {
	version := segmentRecordT
	if kr != nil {
		version = segmentRecordT4
	}
	b := append(make([]byte, 0, 2+binary.MaxVarintLen64+len(items)+sealOverhead+sumLen), version, flags)
	b = binary.AppendUvarint(b, uint64(count))
	if kr != nil {
		return appendSum(ts, key, kr.appendSealed(b, items, placeAAD(aadSegment, thread, key)))
	}
	return appendSum(ts, key, append(b, items...))
}

// decodeSegment decodes segment record v read under k in the thread of
// seed ts.
func decodeSegment(ts threadSeed, k, v []byte) (segment, error) {
	sealed := len(v) > 0 && isVersion(v[0], segmentRecordV4)
	var body []byte
	var err error
	if sealed {
		if body, err = checkSum("list segment", ts, k, v); err == nil {
			body = body[1:]
		}
	} else {
		body, err = recordBody("list segment", ts, k, v, segmentRecordV1, segmentRecordV2)
	}
	if err != nil {
		return segment{}, err
	}
	if len(body) < 1 {
		return segment{}, fmt.Errorf("%w: list segment without flags", ErrCorrupt)
	}
	c, n := binary.Uvarint(body[1:])
	if n <= 0 {
		return segment{}, fmt.Errorf("%w: list segment count", ErrCorrupt)
	}
	return segment{key: k, start: segmentStart(k), count: int(c), folded: body[0]&segmentFolded != 0, flags: body[0], sealed: sealed, items: body[1+n:]}, nil
}

// openItems returns seg's items, opened when sealed.
func (l lineage) openItems(seg segment) ([]byte, error) {
	if !seg.sealed {
		return seg.items, nil
	}
	p, err := l.kr.open(seg.items, placeAAD(aadSegment, l.thread, seg.key))
	if err != nil {
		return nil, fmt.Errorf("list lineage %d of channel %q, item %d: %w", l.id, l.channel, seg.start, err)
	}
	return p, nil
}

// lineage reads and writes the segments of one list lineage.
type lineage struct {
	thread, ns, channel string
	seed                threadSeed // the thread's (seedOf)
	id                  uint64
	kr                  *keyring
}

func (l lineage) path() bucketPath { return threadPath(l.thread, bucketSegments) }

func (l lineage) prefix() []byte { return segmentPrefix(l.ns, l.channel, l.id) }

// pieces calls fn with the raw bytes of items [0, n), segment by segment,
// until fn returns false.
func (l lineage) pieces(r reader, n int, fn func(p []byte) bool) error {
	return l.piecesTail(r, n, fn, nil)
}

// lineageTail is what a scan of a lineage's first n items learned about
// its end, so that an append after it needs no second and third scan
// (storeChannel: where the lineage ends, and the trailing deltas a fold
// would merge). Known only when the scan read every segment and the last
// ends at n exactly; otherwise the caller scans as before.
type lineageTail struct {
	known bool
	run   int // unfolded segments after the last folded one
	bytes int // their items' bytes, opened
}

// piecesTail is pieces that also fills tail (if not nil) when fn never
// stopped the scan.
func (l lineage) piecesTail(r reader, n int, fn func(p []byte) bool, tail *lineageTail) error {
	covered := 0
	stopped := false
	beyond := false // a segment holds items past n
	run, runBytes := 0, 0
	err := r.Scan(l.path(), l.prefix(), nil, false, func(k, v []byte) error {
		if covered >= n {
			beyond = true
			return errStop
		}
		seg, err := decodeSegment(l.seed, k, v)
		if err == nil {
			err = l.checkNext(seg, covered)
		}
		if err != nil {
			return err
		}
		p, err := l.openItems(seg)
		if err != nil {
			return err
		}
		if seg.folded {
			run, runBytes = 0, 0
		} else {
			run, runBytes = run+1, runBytes+len(p)
		}
		if take := n - covered; take < seg.count {
			cut, err := itemsLen(p, take)
			if err != nil {
				return err
			}
			p, seg.count = p[:cut], take
			beyond = true
		}
		covered += seg.count
		if fn(p) {
			return nil
		}
		stopped = true
		return errStop
	})
	if err == nil && !stopped {
		err = l.checkHolds(covered, n)
	}
	if tail != nil && err == nil && !stopped && !beyond {
		*tail = lineageTail{known: true, run: run, bytes: runBytes}
	}
	return err
}

// checkNext and checkHolds are the rule every read of a lineage keeps
// (a segment's sum checks the segment a scan finds, not one it does not
// find: a segment whose key damage deleted or moved leaves no record that
// fails): from item 0 on, each segment starts where those before it end
// (checkNext, given the items they cover), and they reach the n items the
// version read needs (checkHolds). piecesTail reads by it (the tuple
// reader's fast path, segment in tupleread.go, leaves a break in it to
// piecesTail to name), and Export checks every lineage a stored version
// refers to by it (exportThread), so that a dump does not carry a list
// without some of its items on.
func (l lineage) checkNext(seg segment, covered int) error {
	if seg.start != covered {
		return fmt.Errorf("%w: list lineage %d of channel %q: segment at item %d, expected %d", ErrCorrupt, l.id, l.channel, seg.start, covered)
	}
	return nil
}

// checkHolds: see checkNext.
func (l lineage) checkHolds(covered, n int) error {
	if covered < n {
		return fmt.Errorf("%w: list lineage %d of channel %q holds %d items, a version needs %d", ErrCorrupt, l.id, l.channel, covered, n)
	}
	return nil
}

// read rebuilds the first n items as one msgpack array, byte for byte what
// was encoded: two passes over the mapped pages, one allocation.
func (l lineage) read(r reader, n int) (Raw, error) {
	// A list is read in at most about (K-1)·log_K(n) segments
	// (Options.DeltaFold, 8 by default: 18 for 500 items): room for them
	// at once instead of growing the slice six times.
	parts := make([][]byte, 0, 40)
	size := 5
	if err := l.pieces(r, n, func(p []byte) bool {
		parts = append(parts, p)
		size += len(p)
		return true
	}); err != nil {
		return nil, err
	}
	out := appendListHeader(make([]byte, 0, size), n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// end returns the number of items the lineage holds.
func (l lineage) end(r reader) (int, error) {
	end := 0
	err := r.Scan(l.path(), l.prefix(), nil, true, func(k, v []byte) error {
		seg, err := decodeSegment(l.seed, k, v)
		if err != nil {
			return err
		}
		end = seg.start + seg.count
		return errStop
	})
	return end, err
}

const (
	relOther  relation = iota // neither equal nor an append
	relEqual                  // the same bytes
	relAppend                 // a list extending the stored list
)

// sweepLineages deletes the segments of every list lineage of thread that
// no stored blob refers to any more (after retention deleted the versions
// that used them), at most budget of them, and returns how many segments
// and bytes it deleted; done says none is left. A lineage still referenced
// is kept whole: its items are a shared prefix.
func sweepLineages(w writer, thread string, budget int) (segments int, bytes int64, done bool, err error) {
	type lin struct {
		ns, channel string
		id          uint64
	}
	live := map[lin]bool{}
	ts := seedOf(thread)
	if err := w.Scan(threadPath(thread, bucketBlobs), nil, nil, false, func(k, v []byte) error {
		kind, body, err := blobKind(ts, k, v)
		if err != nil {
			return err
		}
		if kind != blobListRef {
			return nil
		}
		ref, err := decodeListRef(body)
		if err != nil {
			return err
		}
		ns, channel, _, err := parseBlobKey(k)
		if err != nil {
			return err
		}
		live[lin{ns, channel, ref.lineage}] = true
		return nil
	}); err != nil {
		return 0, 0, false, err
	}
	var dead [][]byte
	done = true
	if err := w.Scan(threadPath(thread, bucketSegments), nil, nil, false, func(k, v []byte) error {
		ns, channel, id, _, err := parseSegmentKey(k)
		if err != nil {
			return err
		}
		if !live[lin{ns, channel, id}] {
			if err := recordIntact(bucketSegments, ts, k, v); err != nil {
				// Referred to by nothing because its key is damaged: the
				// list's items, not garbage.
				return fmt.Errorf("%w (a list segment no value refers to, kept: its key is damaged)", err)
			}
			if len(dead) == budget {
				done = false
				return errStop
			}
			dead = append(dead, append([]byte(nil), k...))
			bytes += int64(len(k) + len(v))
		}
		return nil
	}); err != nil {
		return 0, 0, false, err
	}
	if _, err := delAll(w, threadPath(thread, bucketSegments), dead); err != nil {
		return 0, 0, false, err
	}
	return len(dead), bytes, done, nil
}
