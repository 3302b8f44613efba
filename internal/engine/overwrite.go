package engine

// The store's file or its log overwritten in place under a running store:
// `cp other.db s.db`, an operator's `cp backup.db s.db` "restoring" under
// a running service, `cp other.db-wal s.db-wal`. The inode stays, so the
// look at the paths (held_files.go) passes, and the store went on
// acknowledging Sync writes (14-17 of a writer saving every 2 ms) that the
// reopen then refused with the log as another file's, or applying the log
// into the copy. So the same look, after each fsync of the log and before
// each commit into bbolt, also checks the bytes:
//
//   - the store's file: bbolt's meta pages live in its map (MAP_SHARED), so
//     a cp through write(2) shows there at once. The page of the last
//     commit the store made (txid N, in slot N%2; at Open, whichever slot
//     holds the newest: a backup's copy holds an odd N in slot 0) must
//     still be what that commit wrote, byte for byte, and the other slot
//     may hold nothing newer than N+1 (the commit that may be in flight).
//     A commit writes only its own slot, so a check that ran while no
//     commit ended (seq unchanged) compares against a page nothing of the
//     store's touched.
//   - the log: its header (magic, version, crc, identity) never changes
//     while the store runs; it is read through a map of the log's first
//     page (overwrite_unix.go). No stat: a look at the log's times makes
//     every fdatasync of it commit the journal (held_files.go), and a read
//     of it would move its atime.
//
// A map may lag the file's bytes: on FUSE (h241: a fresh store on a
// loaded machine fail-stopped after three Sync saves, nothing copied over
// its file), a network file system, any whose map is not coherent with
// write(2) at every instant. So what a commit wrote is recorded from the
// file (pread: the bytes a cp moves, and a reopen reads), and a look
// whose map disagrees looks again at the file: only the file's own bytes
// disagreeing are an overwrite.
//
// The looks cost no syscall while the map agrees: a few hundred bytes
// compared per fsync; a commit's record costs a pread per place. Not seen:
// a copy whose meta pages are the store's own (a copy of the file as it
// is now holds what the store holds), and a cp between the look and the
// acknowledgement (as for a move).

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	bolt "go.etcd.io/bbolt"
)

// metaLen is a meta page's body: magic, version, page size, flags, root
// bucket (pgid, sequence), freelist, high water mark, txid, checksum.
const metaLen = metaChecksumAt + 8

type metaBytes [metaLen]byte

// metaRec is the store's file as its last commit left it.
type metaRec struct {
	db   *bolt.DB
	file *os.File
	ps   int // the file's page size: where slot 1 starts
	txid uint64
	// slot is the meta page txid is in: txid%2 for bbolt's commits, but
	// a copy bbolt wrote (Tx.WriteTo: a backup) holds its txid N in page
	// 0 and N-1 in page 1, so a file opened from one holds an odd newest
	// txid in slot 0 until its first commit.
	slot int
	meta metaBytes // slot's body
	// marks are bytes of the newest commit's tree: the last key and value
	// of each top-level bucket, where the file holds them. Meta pages say
	// only how a tree is laid out, which two stores written alike share;
	// these say what it holds (the log's identity, checkpoint ids).
	marks []mark
	bad   bool // the commit's own page was not there: not the store's
}

type mark struct {
	off int64
	b   []byte
}

// marksMax and marksCount bound the bytes and the marks a check compares.
const (
	marksMax   = 1024
	marksCount = 16
)

// fileWatch keeps what the store's commits left in the meta pages.
type fileWatch struct {
	// mu makes each commit and its record one step: the record of commit
	// N is stored before commit N+1 begins to write.
	mu sync.Mutex
	// seq is odd while a commit is in flight (set before it, after its
	// record): a check whose read saw it change looks again.
	seq atomic.Uint64
	rec atomic.Pointer[metaRec]
	// file is the store's file as reset found it: the record of each
	// commit is read from it (nil: from the map).
	file *os.File
	// path and logPath ("" without a log) name the files in the error.
	path, logPath string
}

// commit runs commit (bbolt's, through the observer) for tx, looking first
// that the file is still the store's (nothing is written into a copy put
// over it), and records what it wrote.
func (w *fileWatch) commit(tx *bolt.Tx, commit func(*bolt.Tx) error) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.check(); err != nil {
		_ = tx.Rollback()
		return err
	}
	// Read before the commit: after it, tx no longer has them. Info reads
	// the map, which only a write transaction's commit moves.
	db, txid, ps := tx.DB(), uint64(tx.ID()), tx.DB().Info().PageSize
	w.seq.Add(1)
	defer w.seq.Add(1)
	err := commit(tx)
	if err == nil {
		w.rec.Store(record(db, w.file, ps, txid, false))
	}
	// A failed commit keeps the record of N: slot N%2 is untouched (a
	// take-back of the failed page, revertMeta, writes the other slot).
	return err
}

// reset records db as it is now (Open, a swap of the file by Compact):
// its newest valid meta page. No commit may run meanwhile.
func (w *fileWatch) reset(db *bolt.DB, file *os.File) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seq.Add(2)
	w.file = file
	var r *metaRec
	func() {
		defer func() { _ = recover() }() // bbolt's assert on a handle unmapped
		r = record(db, file, db.Info().PageSize, 0, true)
	}()
	w.rec.Store(r)
}

// record is the record of db after the commit txid (newest: whichever
// valid meta page is newest), read from file (through db's map without
// one); nil if the file cannot be looked at. From the file: a map that
// lags would record bytes the file no longer holds, and every look after
// would find the file "overwritten".
func record(db *bolt.DB, file *os.File, ps int, txid uint64, newest bool) *metaRec {
	read := func(spans []span, dst []byte) (fault, ok bool) {
		if file != nil {
			return readFileAt(file, spans, dst)
		}
		return readAt(db, nil, spans, dst)
	}
	var buf [2 * metaLen]byte
	fault, ok := read([]span{{pageHeaderSize, metaLen}, {int64(ps + pageHeaderSize), metaLen}}, buf[:])
	s := splitMetas(&buf)
	if !ok {
		return nil // cannot look: nothing checked until the next commit
	}
	slot := int(txid % 2) // where a commit of txid writes its page
	if newest {
		v0, t0 := metaTxid(s[0])
		v1, t1 := metaTxid(s[1])
		switch {
		case fault || !v0 && !v1:
			return nil
		case v0 && (!v1 || t0 >= t1):
			txid, slot = t0, 0
		default:
			txid, slot = t1, 1
		}
	}
	r := &metaRec{db: db, file: file, ps: ps, txid: txid, slot: slot, meta: s[slot]}
	if valid, t := metaTxid(r.meta); fault || !valid || t != txid {
		r.bad = true // overwritten under the commit itself
		return r
	}
	r.marks = treeMarks(read, ps, r.meta)
	return r
}

// treeMarks finds the last key and value of each top-level bucket of
// the tree meta names: in the root bucket's page, each bucket's inline
// page or root page (a branch's last key). Read from the file's bytes
// with every place bounded by the tree's pages and no descent (a damaged
// branch could loop a cursor forever); none where a page is not what it
// should be.
func treeMarks(read func([]span, []byte) (fault, ok bool), ps int, meta metaBytes) (marks []mark) {
	le := func(b []byte) uint64 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		return v
	}
	size := int64(le(meta[40:48])) * int64(ps) // the high water mark's end
	get := func(off int64, n int) []byte {
		if off < 0 || n <= 0 || int64(n) > size || off > size-int64(n) {
			return nil
		}
		b := make([]byte, n)
		if fault, ok := read([]span{{off, n}}, b); fault || !ok {
			return nil
		}
		return b
	}
	n := 0
	add := func(off int64, b []byte) {
		if len(b) == 0 || n >= marksMax || len(marks) == marksCount {
			return
		}
		b = b[:min(len(b), 64, marksMax-n)]
		marks = append(marks, mark{off, b})
		n += len(b)
	}
	// elems reads the page at po: its flags and elements.
	elems := func(po int64) (flags uint16, el []byte) {
		h := get(po, pageHeaderSize)
		if h == nil {
			return 0, nil
		}
		flags, count := uint16(le(h[8:10])), int(le(h[10:12]))
		if count == 0 || count > ps/elemSize {
			return 0, nil
		}
		return flags, get(po+pageHeaderSize, count*elemSize)
	}
	// last marks the last element of the page at po (its value too, in a
	// leaf); each element's key lies at its own offset plus pos.
	last := func(po int64) {
		flags, el := elems(po)
		if el == nil {
			return
		}
		e := el[len(el)-elemSize:]
		at := po + pageHeaderSize + int64(len(el)-elemSize)
		switch flags {
		case branchPageFlag:
			k := at + int64(le(e[0:4]))
			add(k, get(k, min(int(le(e[4:8])), 64)))
		case leafPageFlag:
			k, ks, vs := at+int64(le(e[4:8])), int64(le(e[8:12])), int(le(e[12:16]))
			add(k, get(k, min(int(ks), 64)))
			add(k+ks, get(k+ks, min(vs, 64)))
		}
	}
	root := int64(le(meta[16:24])) * int64(ps)
	flags, el := elems(root)
	if flags != leafPageFlag {
		last(root) // many top-level buckets: the root's last key alone
		return marks
	}
	for i := 0; i+elemSize <= len(el); i += elemSize {
		e := el[i : i+elemSize]
		if le(e[0:4])&bucketLeafFlag == 0 {
			continue
		}
		v := root + pageHeaderSize + int64(i) + int64(le(e[4:8])) + int64(le(e[8:12]))
		b := get(v, 16) // the bucket's root page and sequence
		if b == nil {
			continue
		}
		if pg := int64(le(b[:8])); pg != 0 {
			last(pg * int64(ps))
		} else {
			last(v + 16) // inline: its page follows
		}
	}
	return marks
}

// check returns a *MovedError when the store's file is no longer what
// its commits wrote.
func (w *fileWatch) check() error {
	for range 3 {
		s1 := w.seq.Load()
		r := w.rec.Load()
		if r == nil {
			return nil
		}
		ours := !r.bad
		if ours {
			// On the stack (spans, not slices, hold the places): this
			// runs before every acknowledgement.
			var buf [2*metaLen + marksMax]byte
			var arr [2 + marksCount]span
			look := arr[:2+len(r.marks)]
			look[0], look[1] = span{pageHeaderSize, metaLen}, span{int64(r.ps + pageHeaderSize), metaLen}
			for i, m := range r.marks {
				look[2+i] = span{m.off, len(m.b)}
			}
			fault, ok := readAt(r.db, r.file, look, buf[:])
			ours = ok && !fault && r.holds(splitMetas((*[2 * metaLen]byte)(buf[:])), buf[2*metaLen:])
			if !ours && ok && r.file != nil {
				// The map may lag the file (overwrite.go's top): the
				// file's own bytes say.
				fault, ok = readFileAt(r.file, look, buf[:])
				ours = ok && !fault && r.holds(splitMetas((*[2 * metaLen]byte)(buf[:])), buf[2*metaLen:])
			}
			if w.seq.Load() != s1 {
				continue // a commit ended or began: look again
			}
			if !ok {
				return nil // cannot look: says nothing either way
			}
		}
		if !ours {
			return &MovedError{Path: w.path, LogPath: w.logPath, how: "was overwritten in place (other bytes copied over it: a cp, a restore of a backup)", overwritten: true}
		}
		return nil
	}
	return nil // commits one after another all the while: next time
}

// holds tells whether the meta pages s, and the bytes now at the marks,
// are those of the file r recorded.
func (r *metaRec) holds(s [2]metaBytes, now []byte) bool {
	if s[r.slot] != r.meta {
		return false
	}
	for _, m := range r.marks {
		if !bytes.Equal(now[:len(m.b)], m.b) {
			return false
		}
		now = now[len(m.b):]
	}
	valid, t := metaTxid(s[1-r.slot])
	return !valid || t <= r.txid+1
}

// splitMetas is both meta pages' bodies, read one after the other.
func splitMetas(b *[2 * metaLen]byte) [2]metaBytes {
	return [2]metaBytes{metaBytes(b[:metaLen]), metaBytes(b[metaLen:])}
}

// metaTxid tells whether b is a valid meta page body, and its txid.
func metaTxid(b metaBytes) (bool, uint64) {
	h := uint64(14695981039346656037) // FNV-64a, as bbolt's checksum
	for _, c := range b[:metaChecksumAt] {
		h ^= uint64(c)
		h *= 1099511628211
	}
	le := func(i int) uint64 {
		var v uint64
		for j := 7; j >= 0; j-- {
			v = v<<8 | uint64(b[i+j])
		}
		return v
	}
	valid := uint32(le(0)) == boltMagic && uint32(le(4)) == boltVersion && le(metaChecksumAt) == h
	return valid, le(48)
}

// span is a place in the file: n bytes at off.
type span struct {
	off int64
	n   int
}

// readAt fills dst with the file's bytes at each span, one after the
// other: through db's map, under a read hold of bbolt's map lock taken
// without waiting (a remap moves the map), or else from file. fault: the
// file is shorter (cut, or emptied by a cp that has not written yet). ok
// false: neither could be read.
func readAt(db *bolt.DB, file *os.File, spans []span, dst []byte) (fault, ok bool) {
	if mu := mmapLock(db); mu != nil && mu.TryRLock() {
		ok, fault = mappedRead(db, spans, dst)
		mu.RUnlock()
		if ok {
			return fault, true
		}
	}
	if file == nil {
		return false, false
	}
	return readFileAt(file, spans, dst)
}

// readFileAt is readAt from file alone (pread), not through a map.
func readFileAt(file *os.File, spans []span, dst []byte) (fault, ok bool) {
	for _, sp := range spans {
		if _, err := file.ReadAt(dst[:sp.n], sp.off); err != nil {
			if errors.Is(err, io.EOF) {
				return true, true
			}
			return false, false
		}
		dst = dst[sp.n:]
	}
	return false, true
}

// mappedRead is readMapped; a test puts a map that lags the file's bytes
// (a FUSE or network mount's) in its place.
var mappedRead = readMapped

// readMapped copies the spans' bytes out of db's map, with bbolt's map
// lock held shared. A fault (a page past the file's end) is reported, not
// raised; an unmapped (closed) handle gives ok false.
func readMapped(db *bolt.DB, spans []span, dst []byte) (ok, fault bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			_, fault = r.(interface{ Addr() uintptr })
			ok = fault
		}
	}()
	base := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(db), dataOffset))
	if base == nil {
		return false, false // closed: unmapped
	}
	for _, sp := range spans {
		copy(dst[:sp.n], unsafe.Slice((*byte)(unsafe.Add(base, sp.off)), sp.n))
		dst = dst[sp.n:]
	}
	return true, false
}

// mmapOffset and dataOffset are where bbolt's DB.mmaplock and DB.data
// (the map's start) lie in a DB, for the bbolt version reviewed
// (failstop.go finds the lock); ^0 if not found: the meta pages are then
// read from the file.
var mmapOffset, dataOffset = func() (uintptr, uintptr) {
	t := reflect.TypeFor[bolt.DB]()
	data, ok := t.FieldByName("data")
	if !canReleaseBeginLocks || len(mmapLockIndex) != 1 || !ok || len(data.Index) != 1 || data.Type.Kind() != reflect.Pointer {
		return ^uintptr(0), ^uintptr(0)
	}
	return t.Field(mmapLockIndex[0]).Offset, data.Offset
}()

func mmapLock(db *bolt.DB) *sync.RWMutex {
	if mmapOffset == ^uintptr(0) {
		return nil
	}
	return (*sync.RWMutex)(unsafe.Add(unsafe.Pointer(db), mmapOffset))
}

// logHead is the log's header as CreateLog wrote it, and a way to read
// the header the log's file has now without a syscall (overwrite_unix.go).
type logHead struct {
	want [logHeader]byte
	m    []byte // the log's first page, mapped; nil: read from f
	f    *os.File
}

// newLogHead watches the header of log (nil: nothing checked).
func newLogHead(log *Log) *logHead {
	h := &logHead{f: log.f}
	b, _ := appendLogHeader(nil, log.id)
	copy(h.want[:], b)
	h.m = mapHead(log.f)
	return h
}

// check returns a *MovedError when the log's header is not the one the
// store wrote (the log overwritten by another's, or cut to nothing).
func (h *logHead) check(path string) error {
	if h == nil {
		return nil
	}
	var now [logHeader]byte
	if !h.read(&now) || now != h.want {
		return &MovedError{Path: path, Log: true, how: "was overwritten in place (other bytes copied over it)", overwritten: true}
	}
	return nil
}

// read reads the header the log has now; false: the file is shorter.
func (h *logHead) read(now *[logHeader]byte) (ok bool) {
	if h.m == nil {
		if _, err := h.f.ReadAt(now[:], 0); err != nil && !errors.Is(err, io.EOF) {
			*now = h.want // cannot look: says nothing either way
		}
		return true
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() != nil {
			ok = false // a page past the end: the log was emptied
		}
	}()
	copy(now[:], h.m)
	return true
}

func (h *logHead) release() {
	if h != nil && h.m != nil {
		unmapHead(h.m)
		h.m = nil
	}
}

// overwrittenWords is the advice of a MovedError for a file overwritten.
func (e *MovedError) overwrittenWords() string {
	if e.Log {
		// Close applies every acknowledged group to the store's file and
		// removes what is at the log's path, as at every clean Close.
		return fmt.Sprintf("the write-ahead log %s %s while the store had it open, so the store stopped taking writes (a write acknowledged from now on would be lost with it); the writes acknowledged before are kept: Close the store, which puts them in its file (and removes the copy at the log's path), then open it again", e.Path, e.how)
	}
	words := fmt.Sprintf("the store's file %s %s while the store had it open, so the store stopped taking writes and writes nothing more into it (a write acknowledged from now on would be lost); the file at the path is the copy now", e.Path, e.how)
	if e.LogPath == "" {
		return words
	}
	// The log keeps the groups bbolt had not taken; a reopen replays them
	// onto an older copy of this store bound to the same log, and refuses
	// the log as another file's otherwise.
	return words + fmt.Sprintf("; Close keeps the log %s with the writes acknowledged and not yet applied: a reopen replays them if the copy is an older one of this store that the log still reaches back to, and refuses the log otherwise (`ckpt recover` then opens the copy without it)", e.LogPath)
}
