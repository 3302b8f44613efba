package engine

// Replay: logged groups into bbolt (the applier, Open's recovery of a
// read-write store, Backup's copy, recover) and into an overlay (a
// read-only Open, which must not write the file).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Mark names the key where bbolt records the last group of the log it
// holds, written in the same commit as the groups: what is past it in the
// log is replayed on Open. Where it lives is the root package's bucket
// layout's business.
type Mark struct {
	Path Path
	Key  []byte
	// Log, if set, is the key (in Path) that binds the file to its log:
	// the identity of the log whose groups it takes, and the mark's group
	// when that was written (two u64 big-endian). Open refuses a log of
	// another identity (ScanLogOf), so a log that is not this file's is
	// never replayed into it.
	Log []byte
	// Live, if set, is the key (in Path) that says a log is live beside
	// the file: the identity of the log a read-write Open created (u64
	// big-endian), written with its binding once the log exists and
	// deleted by a clean Close's last commit before the log is removed
	// (and by Open's recovery commit, once bbolt holds the old log). A
	// file that says so with no log beside it was copied, renamed or
	// linked without its log, or the log was deleted: Open refuses it
	// (ErrCorrupt) rather than read it without the groups the log held.
	// A file no build that sets it wrote has no such key and opens as
	// before.
	Live []byte
	// Swap, if set, is the key (in Path) that says the file was renamed
	// into place by a Compact whose fsync of the directory then failed
	// (compact_swap.go): the store's path may name the old file again
	// after a power cut, whatever later fsyncs of the directory do.
	Swap []byte
}

// LiveLog reads the file's live mark: whether a log is live beside it,
// and that log's identity (0 when the mark is there but not 8 bytes: a
// damaged mark still says a log was live).
func (m Mark) LiveLog(r Reader) (id uint64, live bool) {
	if m.Live == nil {
		return 0, false
	}
	v := r.Get(m.Path, m.Live)
	if v == nil {
		return 0, false
	}
	if len(v) == 8 {
		id = binary.BigEndian.Uint64(v)
	}
	return id, true
}

// SetLive records in w that the log of identity id is live beside the
// file.
func (m Mark) SetLive(w Writer, id uint64) error {
	if m.Live == nil {
		return nil
	}
	return w.Put(m.Path, m.Live, binary.BigEndian.AppendUint64(nil, id))
}

// ClearLive records in w that no log holds anything the file lacks.
func (m Mark) ClearLive(w Writer) error {
	if m.Live == nil {
		return nil
	}
	return w.Del(m.Path, m.Live)
}

// LogHoldsNothing says whether the log at path holds no record: none is
// there (LogAbsent), or nothing but zeros follows where its header ends
// (a log a read-write Open created and bound, nothing appended yet; or
// one whose creation was cut short).
func LogHoldsNothing(path string) bool {
	if LogAbsent(path) {
		return true
	}
	data, err := readLogFile(path)
	return err == nil && len(data) >= logHeader && lastNonZero(data, logHeader) < 0
}

// MarkInRange is a mark CheckApplied refuses with its top two bytes
// cleared: what it was if a flip there, which makes a mark pass any group,
// is its only damage. Recovery puts it there when nothing says where it was
// and no log holds a group (LogHoldsNothing): it then numbers nothing
// stored, and the next read-write Open binds a new log at it.
func MarkInRange(applied uint64) uint64 { return applied & maxGen }

// LogAbsent says whether no log is at path: no file, or one shorter than
// a log's header (its identity and records unreadable). A file whose live
// mark is set cannot meet either after a crash: the mark is set only once
// its log's header is durable, and cleared before the log is removed. A
// symbolic link is the file it names (the log is read through it): a
// dangling one is no log.
func LogAbsent(path string) bool {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	return err == nil && fi.Mode().IsRegular() && fi.Size() < logHeader
}

// LogMissingError is Open's error for a file whose live mark names a log
// that is not at logPath (LogAbsent).
func LogMissingError(path, logPath string, id uint64) error {
	return fmt.Errorf("%w: the write-ahead log is missing: %s says its log %s (identity %016x) is live "+
		"(the last writer did not close it cleanly), and there is no log (or an empty one): the file was copied, renamed or "+
		"hard-linked without its log, or the log was deleted, and the writes the log held that the file "+
		"lacks would be lost; nothing was changed: put the log back beside the file, or run `ckpt recover` "+
		"(ckpt.RecoverLog) to accept the file as it is", ErrCorrupt, path, logPath, id)
}

// LogBinding is what the file says of its log (Mark.Log): the identity
// of the log whose groups it takes, and the mark's group when that was
// written (every commit that moves the mark writes both).
type LogBinding struct {
	ID, Gen uint64
	// When the binding is not whole (ID zero), what else names the log
	// (Mark.Identity; zero in a binding Binding reads): Damaged says a
	// binding is there and damaged (not none: the file was bound, and no
	// longer says to which log), and Live is the identity of the log the
	// file's live mark names (0: no live mark, or a damaged one).
	Damaged bool
	Live    uint64
}

// Identity reads the file's binding to its log as Binding does and,
// when it is not whole, what else names the log (LogBinding.Damaged,
// LogBinding.Live): what Open checks the log beside the file against
// (ScanLogOf).
func (m Mark) Identity(r Reader) LogBinding {
	b := m.Binding(r)
	if b.ID != 0 {
		return b
	}
	if m.Log != nil {
		b.Damaged = r.Get(m.Path, m.Log) != nil
	}
	b.Live, _ = m.LiveLog(r)
	return b
}

// bindingLen is a binding's value: id u64 | gen u64 | crc u32, the crc
// (CRC-32C) over id and gen.
const bindingLen = 20

// Binding reads the file's binding to its log (zero: none, a damaged one,
// or a log of the format before the header). A damaged binding says
// nothing: taken at its word, a flipped byte of its identity would refuse
// the store's own log as another's.
func (m Mark) Binding(r Reader) LogBinding {
	if m.Log == nil {
		return LogBinding{}
	}
	v := r.Get(m.Path, m.Log)
	if !bindingWhole(v) {
		return LogBinding{}
	}
	return LogBinding{ID: binary.BigEndian.Uint64(v), Gen: binary.BigEndian.Uint64(v[8:])}
}

// bindingWhole says whether v is a binding as Bind writes it: its
// length, and its checksum right.
func bindingWhole(v []byte) bool {
	return len(v) == bindingLen && crc32.Checksum(v[:16], crcTable) == binary.BigEndian.Uint32(v[16:])
}

// Bind records in w that the file's log is the one of identity id, with
// the mark at applied. A store binds a log it creates before it appends
// to it.
func (m Mark) Bind(w Writer, id, applied uint64) error {
	if m.Log == nil {
		return nil
	}
	v := binary.BigEndian.AppendUint64(make([]byte, 0, bindingLen), id)
	v = binary.BigEndian.AppendUint64(v, applied)
	return w.Put(m.Path, m.Log, binary.BigEndian.AppendUint32(v, crc32.Checksum(v, crcTable)))
}

// Applied reads the last applied group from r (0: none).
func (m Mark) Applied(r Reader) uint64 { return decodeMark(r.Get(m.Path, m.Key)) }

// appliedTx reads the mark straight from tx: every read checks it when it
// begins (Snapshots.Begin), and a BoltView for one key would cost the
// read another allocation of the view's caches.
func (m Mark) appliedTx(tx *bolt.Tx) uint64 {
	if len(m.Path) == 0 {
		return 0
	}
	b := tx.Bucket(m.Path[0])
	for _, name := range m.Path[1:] {
		if b == nil {
			return 0
		}
		b = b.Bucket(name)
	}
	if b == nil {
		return 0
	}
	return decodeMark(b.Get(m.Key))
}

// SetApplied records in w the last applied group: recovery's repair of
// a mark CheckApplied refuses, from the file's binding to its log.
func (m Mark) SetApplied(w Writer, gen uint64) error {
	return w.Put(m.Path, m.Key, binary.BigEndian.AppendUint64(nil, gen))
}

// CheckApplied refuses a mark no log could have written: a group past
// maxGen, which no record can number (the mark has no checksum: a flipped
// bit in its top two bytes). Taken at its word, a read-write store would
// open and fail at its first write, every time it was opened again (the
// next group does not fit a record). A mark within the range that is
// wrong is found against the log (ScanLogOf: the binding, the records'
// groups); with no log it numbers nothing that is stored.
func CheckApplied(applied uint64) error {
	if applied <= maxGen {
		return nil
	}
	return fmt.Errorf("%w: the store file's mark of the last write-ahead log group it holds is %d, past any group a log "+
		"can number (%d): a damaged mark", ErrCorrupt, applied, uint64(maxGen))
}

// MarkCheck is what the file says of its mark and its binding to its
// log, read as Open reads them, and what is wrong with them.
type MarkCheck struct {
	Applied uint64     // the mark, as Applied reads it
	Bind    LogBinding // the binding, as Binding reads it (zero: none, or damaged)
	// BadMark, if not nil, says the mark is damaged: past any group a
	// log numbers (CheckApplied), not 8 bytes, or not the group of a
	// whole binding (every commit that moves the mark writes the
	// binding with it, under a checksum: Replay, Bind, SetApplied).
	BadMark error
	// BadBinding, if not nil, says a binding is there and damaged: not
	// its length, or its checksum fails. Open reads it as none.
	BadBinding error
}

// Check reads the mark and the binding from r and checks them against
// each other. On a store closed cleanly no log is beside the file and
// the log's own checks (ScanLogOf) never run, so this is the one place a
// flipped byte of either shows. A flip of the mark's low bytes where the
// file has no whole binding (a file no build that binds wrote, or the
// binding damaged too) cannot be told from a mark: with no log it numbers
// nothing stored (the next read-write Open binds a new log at it), and
// with one the log's groups are checked against it (ScanLogOf).
func (m Mark) Check(r Reader) MarkCheck {
	c := MarkCheck{Applied: m.Applied(r), Bind: m.Binding(r)}
	switch {
	case m.Damaged(r) != nil:
		c.BadMark = m.Damaged(r)
	case c.Bind.ID != 0 && c.Bind.Gen != c.Applied:
		c.BadMark = fmt.Errorf("%w: the store file's mark says it holds write-ahead log groups up to %d, but its binding to its log, "+
			"written with the mark under a checksum, says %d: a damaged mark", ErrCorrupt, c.Applied, c.Bind.Gen)
	}
	if m.Log != nil {
		if bv := r.Get(m.Path, m.Log); bv != nil && !bindingWhole(bv) {
			what := "its checksum fails"
			if len(bv) != bindingLen {
				what = fmt.Sprintf("%d bytes, not %d", len(bv), bindingLen)
			}
			c.BadBinding = fmt.Errorf("%w: the store file's binding to its write-ahead log (the log's identity and the mark "+
				"when written) is damaged (%s): it no longer tells this store's log from another's until a read-write open "+
				"binds a new log", ErrCorrupt, what)
		}
	}
	return c
}

// BadLength says the mark is stored with a length other than 8 (Applied
// reads it as group 0): damaged, as Check reports.
func (m Mark) BadLength(r Reader) bool {
	if len(m.Path) == 0 {
		return false
	}
	mv := r.Get(m.Path, m.Key)
	return mv != nil && len(mv) != 8
}

// Damaged returns the error of a mark that is damaged by itself, whatever
// else the file holds: outside the range of group numbers (CheckApplied),
// or stored with a length other than 8 (read as group 0, which would
// name no group the file holds). Recovery puts such a mark back where the
// binding, or the log the file's live mark names, says it was.
func (m Mark) Damaged(r Reader) error {
	if err := CheckApplied(m.Applied(r)); err != nil {
		return err
	}
	if m.BadLength(r) {
		return fmt.Errorf("%w: the store file's mark of the last write-ahead log group it holds is %d bytes, not 8: a damaged mark",
			ErrCorrupt, len(r.Get(m.Path, m.Key)))
	}
	return nil
}

// DropBinding removes the file's binding to its log: recovery's repair of
// a damaged one, which Open reads as none (Binding) all the same. The next
// read-write Open binds the log it creates.
func (m Mark) DropBinding(w Writer) error {
	if m.Log == nil {
		return nil
	}
	return w.Del(m.Path, m.Log)
}

func decodeMark(v []byte) uint64 {
	if len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Replay applies groups in order through w and records the last as
// applied.
func (m Mark) Replay(w Writer, groups []*Group) error {
	for _, g := range groups {
		for i := range g.Muts {
			if err := ReplayMut(&g.Muts[i], w); err != nil {
				if errors.Is(err, berrors.ErrIncompatibleValue) && !errors.Is(err, ErrCorrupt) {
					// The group was made against this file's layout, which
					// never puts a value and a bucket under one key: a
					// value where it finds its bucket (or the reverse) is
					// a damaged page (a flipped element flag).
					return fmt.Errorf("%w: group %d: %w", ErrCorrupt, g.Gen, err)
				}
				return fmt.Errorf("group %d: %w", g.Gen, err)
			}
		}
	}
	last := groups[len(groups)-1]
	if err := w.Put(m.Path, m.Key, binary.BigEndian.AppendUint64(nil, last.Gen)); err != nil {
		return err
	}
	return m.Bind(w, last.LogID, last.Gen)
}

// ReplayMut applies one logged change through w.
func ReplayMut(m *Mutation, w Writer) error {
	switch m.Op {
	case MutPut:
		return w.Put(m.Path, m.Key, m.Val)
	case MutDel:
		return w.Del(m.Path, m.Key)
	case MutDrop:
		return w.DropBucket(m.Path)
	case MutSeq:
		return w.RaiseSeq(m.Path, m.Seq)
	}
	return fmt.Errorf("%w: write-ahead log: unknown change %d", ErrCorrupt, m.Op)
}

// replayLogged has bbolt take the old log's groups (none: it only
// clears the live mark), in one commit. first, if not nil, runs in that
// commit before the replay (Open's Init, with a meta page damaged): its
// error rolls everything back, and is returned as it is.
func (e *Engine) replayLogged(mark Mark, groups []*Group, first func(tx *bolt.Tx) error) error {
	if len(groups) > 0 {
		// bbolt takes only groups durable in the log (logDurable): what a
		// killed process wrote and never fsync'd is read here from the
		// page cache, and a power cut after bbolt took it, before the new
		// log replaces this one, would leave the log's valid records
		// below bbolt's mark (refused as damage, wal.go). Written again
		// before the fsync: a log a failed fsync left (Close keeps it)
		// holds records whose pages no fsync writes any more (rewrite).
		if err := syncPath(e.logPath, e.syncLog); err != nil {
			return fmt.Errorf("ckpt: replay write-ahead log: fsync it first: %w", err)
		}
	}
	var firstErr error
	// bbolt takes the old log's groups, and with them everything that
	// log held: the file no longer says a log is live (a crash from
	// here until the new log is bound leaves a file whole alone).
	if err := e.db.Update(func(tx *bolt.Tx) error {
		if first != nil {
			if firstErr = first(tx); firstErr != nil {
				return firstErr
			}
		}
		if len(groups) > 0 {
			if err := mark.Replay(NewBoltView(tx), groups); err != nil {
				return err
			}
		}
		return mark.ClearLive(NewBoltView(tx))
	}); err != nil {
		if firstErr != nil {
			return firstErr
		}
		if errors.Is(err, ErrCorrupt) && len(groups) > 0 {
			return fmt.Errorf("ckpt: replay write-ahead log: %w; nothing was changed: %s", err, refusedHint)
		}
		return fmt.Errorf("ckpt: replay write-ahead log: %w", err)
	}
	return nil
}

// refusedHint is what Open says of a log group the store file refuses
// (or of damage met replaying it): the log checks, so only recovery's
// trial replay finds the group, keeps those before it and says which
// groups went.
const refusedHint = "run `ckpt recover` (ckpt.RecoverLog) to keep the log's groups before the one the file refuses and move the log aside, " +
	"or restore a backup of the file"

// GroupRefs returns pointers to gs's groups, in order (what Mark.Replay
// takes).
func GroupRefs(gs []Group) []*Group {
	refs := make([]*Group, len(gs))
	for i := range gs {
		refs[i] = &gs[i]
	}
	return refs
}

// rewrite writes f's bytes over themselves, so that the fsync after it
// writes them all: after a failed writeback Linux marks the pages clean
// with their bytes still readable, and reports the failure once, so an
// fsync alone (by a later process, on a new descriptor) succeeds without
// writing them. The same bytes: a crash halfway leaves the file as it was.
func rewrite(f *os.File) error {
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		if n > 0 {
			if _, werr := f.WriteAt(buf[:n], off); werr != nil {
				return werr
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
