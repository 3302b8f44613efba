package engine

// The open write-ahead log, written only by the commit loop: creating it,
// appending a group's record, erasing a record that failed, growing the
// file by preallocated zeros, rewinding once bbolt holds everything; and
// fsync'd by the syncer too, every fsync of it in one place (Log.fsync).
// The format it writes, and reading it back, are in wal.go.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
)

// Log is the open log, written only by the commit loop; the syncer's
// Sync is the one method another goroutine calls.
type Log struct {
	f    *os.File
	path string
	id   uint64 // the log's identity
	seed uint32 // the crc of the last record (the header's before the first)
	hdr  uint32 // the header's crc: the seed after a rewind
	off  int64  // where the next record goes
	hi   int64  // the end of the furthest record ever written, good or not
	size int64  // how far the file is written (records, then zeros ahead of them)
	// length is the file's length, fsync'd: at least size (a growth whose
	// zeros found no room leaves the file longer than its written part).
	length int64
	buf    []byte
	// sync is the log's fsync (fdatasync; tests make it fail); only
	// fsync calls it.
	sync func(*os.File) error
	// fsyncMu makes the log's fsyncs (the syncer's and the commit
	// loop's) one at a time; fsyncErr is the first that failed.
	fsyncMu  sync.Mutex
	fsyncErr error
	// limit is the longest record body Append takes (zero:
	// maxRecordBody; Hooks.MaxRecordBody lowers it).
	limit uint64
	// grow is how much the file grows at a time (zero: walGrow;
	// Hooks.LogGrow sets it).
	grow int64
	// max is the log's bound (zero: maxLog; Hooks.MaxLog lowers it).
	max int64
}

// CreateLog creates (or empties) the log file with a new identity and
// makes it durable, so records fsync'd into it later survive a power cut.
// Call it only when bbolt durably holds every group the old log held.
// sync is the log's fsync (nil: Fdatasync; tests pass one that fails).
func CreateLog(path string, sync func(*os.File) error) (*Log, error) {
	if sync == nil {
		sync = Fdatasync
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ckpt: create write-ahead log: %w", err)
	}
	id := rand.Uint64() // seeded from the OS: a new identity per log
	hdr, crc := appendLogHeader(nil, id)
	// The header and a record header's worth of zeros, fsync'd before the
	// log is bound to the file: a file bound to this log and shorter was
	// cut short (wal.go, versions 2 to 5).
	hdr = append(hdr, make([]byte, recHeader)...)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ckpt: create write-ahead log: %w", err)
	}
	if err := errors.Join(f.Sync(), SyncDir(filepath.Dir(path))); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ckpt: create write-ahead log: %w", err)
	}
	n := int64(len(hdr))
	return &Log{f: f, path: path, id: id, seed: crc, hdr: crc, off: logHeader, hi: logHeader, size: n, length: n, sync: sync}, nil
}

// Append writes one group's record after the last; durable is the last
// group the log is known durable up to now (fsync'd, or held by bbolt),
// below gen: the record says so (its lag, wal.go), what a scan needs to
// tell a power cut during an fsync from damage. It is not durable until
// the syncer's next fdatasync (commit.go). An error wrapping
// ErrDiskFull fails the group alone: nothing of its record is in the log
// (or can be read as a record), the log is as before, and the next group
// takes its place and number. Any other failure fails the store (the
// caller's business): nothing is written to the log after it.
func (l *Log) Append(gen, durable uint64, muts []Mutation) (int, error) {
	if gen > maxGen || durable >= gen {
		// Neither happens (2^48 groups; the commit loop's durable is below
		// what it writes): refused, not written wrong.
		return 0, fmt.Errorf("ckpt: write-ahead log: group %d (durable up to %d) does not fit a record", gen, durable)
	}
	// A record's length is a u32: a longer body would be written with its
	// length cut short, a record no read could check. Refused before it
	// is encoded (the group fails; nothing of it is written).
	if n, limit := mutsLen(muts), recordLimit(l.limit); n > limit {
		return 0, fmt.Errorf("ckpt: write-ahead log: a group of %d bytes, over a record's limit of %d", n, limit)
	}
	// Room for a proof after it too (AppendProof): a full disk does not
	// keep one from being written (but where an overwrite takes new room).
	var crc uint32
	l.buf, crc = appendRecord(l.buf[:0], l.id, l.seed, gen, durable, muts)
	return l.write(crc, maxProofSpan)
}

const (
	// proofSize is the length of a proof's record: a header and a body
	// of one byte (count 0), padded.
	proofSize = recHeader + 8
	// proofAlign is the block a proof's second copy starts (wal.go,
	// version 5): the larger sector size of disks (4 KiB; 512 bytes is
	// the other), so that no lost sector holds both a record's end and
	// a proof of it.
	proofAlign = 4096
	// maxProofSpan bounds the bytes AppendProof writes: a first proof
	// padded up to one block on, and the second.
	maxProofSpan = proofAlign + 2*proofSize
)

// AppendProof writes a proof after the last record (wal.go): the log is
// durable up to gen, that record's group. Unless the record ends on a
// proofAlign boundary, the proof is padded up to the next one (or the
// one after, if fewer than proofSize bytes are left before it) and a
// second follows there: a block lost over the record's end takes the
// first proof with it, not the second. One write; the next record goes
// after the second proof, so the next fsync writes the block of the
// record's end and the next one (two pages where a small record's fsync
// wrote one), and the log grows by up to proofAlign more per proof (the
// price of a lost block never costing an acknowledged write: review of
// 3142bb5, bench/RESULTS.md "Fifteenth session"). Its room was reserved
// with the record (Append), so a full disk stops it only where an
// overwrite takes new room (copy-on-write file systems): ErrDiskFull,
// nothing of it readable but a whole proof (takeBack), as for Append.
func (l *Log) AppendProof(gen uint64) error {
	n := int64(1) // a proof's body: its count of changes, 0
	if l.off%proofAlign != 0 {
		next := (l.off + proofSize + proofAlign - 1) / proofAlign * proofAlign
		n = next - l.off - recHeader
	}
	var crc uint32
	l.buf, crc = appendProof(l.buf[:0], l.id, l.seed, gen, int(n))
	if n > 1 {
		l.buf, crc = appendProof(l.buf, l.id, crc, gen, 1)
	}
	_, err := l.write(crc, 0)
	return err
}

// write writes l.buf (records chained from l.seed; crc, the last one's)
// after the last record, with room for ahead more bytes after it.
func (l *Log) write(crc uint32, ahead int64) (int, error) {
	end := l.off + int64(len(l.buf))
	if err := l.reserve(end + ahead + recHeader); err != nil {
		return 0, err
	}
	l.hi = max(l.hi, end)
	if n, err := writeAt(l.f, l.buf, l.off); err != nil {
		return 0, l.takeBack(n, fmt.Errorf("ckpt: write-ahead log: %w", err))
	}
	n := len(l.buf)
	l.off, l.seed = end, crc
	if cap(l.buf) > 1<<20 {
		l.buf = nil // do not keep a huge group's buffer
	}
	return n, nil
}

// Erase overwrites with zeros every record from off on and fsyncs: the
// records of groups that failed must not come back at the next Open (their
// write or fsync failed, yet their bytes may sit in the page cache and
// reach the disk later). Best effort: if this fails too, the error says so.
func (l *Log) Erase(off int64) error {
	for p := off; p < l.hi; {
		n := min(int64(len(walZeros)), l.hi-p)
		if _, err := l.f.WriteAt(walZeros[:n], p); err != nil {
			return fmt.Errorf("ckpt: write-ahead log: erase the records of failed groups: %w", err)
		}
		p += n
	}
	if err := l.fsync(true); err != nil {
		return fmt.Errorf("ckpt: write-ahead log: erase the records of failed groups: fsync: %w", err)
	}
	return nil
}

// walGrow is how much the log file grows at a time, with zeros written
// ahead of the records: an fdatasync after a write that extends a file
// also commits the new size to the file system's journal, which on this
// kind of disk costs as much again as the data (measured: 0.73 ms per
// group-commit fsync while appending). Records then overwrite zeros, and
// recovery stops at the zeros (a zero length holds no group).
const walGrow = 4 << 20

var walZeros = make([]byte, 256<<10)

// reserve makes the file at least end bytes long and written (zeros),
// growing it by walGrow, and makes the new length durable before it
// returns: Append asks for a record's end + recHeader before it writes the
// record, so the file a crash leaves is never shorter than that (the
// promise of versions 2 to 5, wal.go). The length is set and fdatasync'd first
// (metadata only: a cheap fsync, once per walGrow of records, in the
// commit loop), and the zeros written after it, not waited for: the next
// group's fsync writes them, as it did when they alone grew the file.
//
// The zeros also take the disk's room for the records ahead of them (a
// record then overwrites blocks the file holds, which a full disk does not
// refuse). Where walGrow does not fit, the file grows by what the record
// needs; where that does not fit either, the error wraps ErrDiskFull:
// nothing of the record is written, and the log's length and records are
// as before (a growth that fit in part stays: the file shrinks only at
// the start of a new pass, Shrink, and the zeros written are the next
// record's room). A failed fsync of the
// length is not ErrDiskFull: it fails the store.
func (l *Log) reserve(end int64) error {
	if end <= l.size {
		return nil
	}
	step := l.grow
	if step <= 0 {
		step = walGrow
	}
	err := l.extend(max(end, l.size+step))
	if err != nil && errors.Is(err, ErrDiskFull) && l.size < end {
		err = l.extend(end) // enough for the record is enough
	}
	if err != nil && errors.Is(err, ErrDiskFull) && l.size >= end {
		err = nil // the first growth fit the record before it found no room
	}
	return err
}

// extend makes the file target bytes long (fsync'd) and written up to it.
func (l *Log) extend(target int64) error {
	if target > l.length {
		if err := l.f.Truncate(target); err != nil {
			return diskFull(fmt.Errorf("ckpt: write-ahead log: grow: %w", err))
		}
		if err := l.fsync(false); err != nil {
			return fmt.Errorf("ckpt: write-ahead log: grow: fsync: %w", err)
		}
		l.length = target
	}
	for l.size < target {
		n := min(int64(len(walZeros)), target-l.size)
		w, err := writeAt(l.f, walZeros[:n], l.size)
		l.size += int64(w) // zeros over zeros: what was written is room
		if err != nil {
			return diskFull(fmt.Errorf("ckpt: write-ahead log: grow: %w", err))
		}
	}
	return nil
}

// takeBack answers a record's write that failed (err) after n of its bytes
// were written. For want of room the record's header is zeroed where it
// was written, and fsync'd: the bytes of a write cut short can still make
// a whole record (the padding at its end is zeros, and so is the hole a
// full disk left after them), which the syncer's fsync (of the groups
// before it) may make durable, and a reopen would replay. A zero length
// ends the log there. The zeros overwrite bytes just written, whose room
// the file holds. Any other failure, or a failed take-back, is returned
// without ErrDiskFull: the store fails and Erase zeroes the rest.
func (l *Log) takeBack(n int, err error) error {
	if !noSpace(err) {
		return err
	}
	if n > 0 {
		if _, zerr := l.f.WriteAt(walZeros[:min(n, recHeader)], l.off); zerr != nil {
			return fmt.Errorf("%w (and taking the record back: %v)", err, zerr)
		}
		// fsync'd before the group's writers hear of the failure: the
		// syncer's fsync (of the groups before it) may have made the
		// record durable meanwhile, and a power cut must not bring it back.
		if serr := l.fsync(false); serr != nil {
			return fmt.Errorf("%w (and taking the record back: fsync: %v)", err, serr)
		}
	}
	return diskFull(err)
}

// ClearHead writes zeros over the header of the record at the start of
// the file and fsyncs them: a rewound log's first record, before the
// next pass writes its own there. Every pass chains from the header's
// crc, so the earlier pass's first record reads as the log's first as
// long as it is there; were the new pass's first record torn by a power
// cut (its later pages on disk, its first not: a disk writes back one
// fsync's pages in any order), or lost with a later record kept, the
// earlier pass would read from the header up to where the new one
// overwrote it, its valid records ending below bbolt's mark: refused as
// damage (wal.go). With its header zero, that log ends at the header, a
// crash's. One write and one fsync per pass (a rewind comes once bbolt
// holds every record), in the commit loop. A failure fails the store.
func (l *Log) ClearHead() error {
	if _, err := l.f.WriteAt(walZeros[:recHeader], logHeader); err != nil {
		return fmt.Errorf("ckpt: write-ahead log: clear the earlier pass's first record: %w", err)
	}
	if err := l.fsync(false); err != nil {
		return fmt.Errorf("ckpt: write-ahead log: clear the earlier pass's first record: fsync: %w", err)
	}
	return nil
}

// Shrink gives back to the file system what a burst of records or one
// large record grew the file to: it cuts the file back to its header and
// a record header of zeros (CreateLog's length), fsync'd, and the next
// record grows it again by one step of zeros (reserve). Call it only
// right after ClearHead, before the new pass's first record, when bbolt
// holds every record: nothing in the file is needed any more.
//
// The cut is at the header, not at one growth step: a cut inside the
// earlier passes' records left the header of one of them whole with its
// end past the file's, and once the new pass's records ended right where
// it began (proofs end on 4 KiB boundaries, where records of every pass
// start), a kill or a power cut left a log whose last header claimed more
// than the file holds: refused as cut short from outside (cutShort). Cut
// at the header, no byte of an earlier pass is left: the file grows again
// as a new log does (its length fsync'd before a record is written past
// it), and a power cut before the cut's fsync leaves the longer file with
// its first header cleared (ClearHead's fsync came first), an empty log
// either way. A failure fails the store.
func (l *Log) Shrink() error {
	step := l.grow
	if step <= 0 {
		step = walGrow
	}
	const keep = logHeader + recHeader
	if l.length <= keep+step || l.off != logHeader {
		return nil // no more than a new log's first growth: nothing to give back
	}
	if err := l.f.Truncate(keep); err != nil {
		return fmt.Errorf("ckpt: write-ahead log: shrink: %w", err)
	}
	l.length, l.size, l.hi = keep, keep, logHeader
	// Durable before any record is written in the new, shorter file
	// (fdatasync commits a file's size: it is needed to read its data).
	if err := l.fsync(false); err != nil {
		return fmt.Errorf("ckpt: write-ahead log: shrink: fsync: %w", err)
	}
	return nil
}

// oversized reports whether the file grew past what a steady stream of
// writes keeps it at (maxLog, then the group that crossed it, and a
// growth step or two): a burst, or one record larger than the bound.
func (l *Log) oversized() bool {
	step := l.grow
	if step <= 0 {
		step = walGrow
	}
	return l.length > l.bound()+2*step
}

// bound is the log's bound: past it the commit loop applies every group
// itself, so that the next record starts a new pass (openGroup).
func (l *Log) bound() int64 {
	if l.max > 0 {
		return l.max
	}
	return maxLog
}

// Rewind makes the next record go to the start of the file. Call it only
// when bbolt durably holds every record: the records left behind have
// lower gens than any written later and are not in the new chain, so
// recovery neither replays them nor takes them for damage.
func (l *Log) Rewind() { l.off, l.seed = logHeader, l.hdr }

// Remove closes and deletes the log (a clean Close: bbolt holds it all).
func (l *Log) Remove() error {
	err := l.f.Close()
	if rmErr := os.Remove(l.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	return err
}

// Close closes the log's file, leaving it in place.
func (l *Log) Close() error { return l.f.Close() }

// Sync makes every record written so far durable (the syncer's fsync).
// Once any fsync of the log failed, it fails too, with that error.
func (l *Log) Sync() error { return l.fsync(false) }

// fsync is every fsync of the log: the syncer's (Sync) and the commit
// loop's (a growth, a take-back, a cleared head, Erase). Linux reports a
// write-back error (a page of the file the disk did not take) once per
// open file (errseq): to the first fsync of the file that checks after
// it, and to no fsync after that one, which succeeds although the page is
// gone. So:
//
//   - one fsync of the log at a time: of two at once, the commit loop's
//     (whose failure fails the store) could hear the error about pages
//     only the syncer's covered, and the syncer's, hearing nothing, would
//     have the commit loop acknowledge groups a power cut loses. One at a
//     time, the fsync that hears the error is one that covered the pages,
//     or a later one of a log already failed (below). The wait is short
//     and rare: the commit loop fsyncs once per walGrow of records (and
//     at a rewind or a failure), meanwhile the syncer's fsync ends.
//   - once an fsync failed, every later one fails with its error without
//     asking the disk: pages dropped before it are lost whatever a later
//     fsync says, and no group may be acknowledged on its word. Only
//     Erase (again) tries its own (best effort, after a failure): its
//     zeros keep failed groups' records from coming back if it succeeds.
func (l *Log) fsync(again bool) error {
	l.fsyncMu.Lock()
	defer l.fsyncMu.Unlock()
	if l.fsyncErr != nil && !again {
		return l.fsyncErr
	}
	err := l.sync(l.f)
	if err != nil && l.fsyncErr == nil {
		l.fsyncErr = err
	}
	return err
}

// SyncAndClose fsyncs and closes the log: a Close that keeps it (bbolt
// does not hold it all). After a failed fsync of the log it reports that
// failure instead (Log.fsync): pages of the log kept may be gone, whatever
// a later fsync says.
func (l *Log) SyncAndClose() error {
	l.fsyncMu.Lock()
	err := l.fsyncErr
	if err == nil {
		err = Fdatasync(l.f)
	}
	l.fsyncMu.Unlock()
	return errors.Join(err, l.f.Close())
}

// ID is the log's identity.
func (l *Log) ID() uint64 { return l.id }

// Offset is where the next record goes.
func (l *Log) Offset() int64 { return l.off }
