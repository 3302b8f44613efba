package engine

// What a scan of the log (wal.go) reports when its valid records stop
// short: a log that starts past the file's mark, one cut short from
// outside, one bound to another log or mark; and the helpers those
// checks read a log's bytes with. Split from wal.go, which keeps the
// format and the scan itself.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// gapDamage is the damage of a log (its file's bytes data, its identity
// id) whose first group after the store file's mark, gen at offset off, is
// not the next one (applied+1): the groups in between are in neither file,
// so nothing of the log can be replayed. The file is older than its log: a
// backup or an older copy put in the place of a store whose program went on
// writing (its log applied and started again since), or a mark lowered by
// damage. Recovery drops the log (it holds only groups after the gap), or,
// when the binding says the file took this log's groups up to gen-1 or
// further (the mark is what is wrong), replays it from there (Bound).
func gapDamage(data []byte, off int, id uint64, version uint32, gen, applied uint64, bind LogBinding) *LogDamage {
	d := &LogDamage{Offset: int64(off), Group: applied + 1, LaterFirst: gen, LaterLast: gen, Gap: true,
		Bytes: int64(lastNonZero(data, off) + 1 - off),
		Reason: fmt.Sprintf("the log starts at group %d, but the store file holds groups up to %d only "+
			"(groups %d-%d are in neither: is the file an older copy, a backup put back, beside the log of a later run?)", gen, applied, applied+1, gen-1)}
	for p := off + 8; p+recHeader <= len(data); p += 8 {
		if r, ok := parseRecord(data, p, id, version); ok {
			d.LaterLast = max(d.LaterLast, r.gen)
			p += r.size - 8
		}
	}
	if bind.ID == id && bind.Gen > applied && gen <= bind.Gen+1 {
		d.Bound, d.BoundSet = bind.Gen, true
	}
	return d
}

// cutShort says why a log of the given version whose valid chain ends at
// off (its file's bytes data, its identity id) was cut short from outside,
// or "" if a crash could have left it (the promise of versions 2 to 5, above).
func cutShort(data []byte, off int, id uint64, version uint32, bind LogBinding) string {
	if version < logV2 {
		return ""
	}
	// Past the header: promised once the file is bound to this log (or
	// holds a record, which is written after that).
	need, what := 0, ""
	if off > logHeader || bind.ID == id {
		need, what = off+recHeader, "its last valid record"
		if off == logHeader {
			what = "its header"
		}
	}
	// A record begun at off (its header checks, the rest is missing or
	// damaged): the file was grown past its end before it was written.
	if end, ok := recordEnd(data, off, id); ok && end+recHeader > need {
		need, what = end+recHeader, fmt.Sprintf("the end (offset %d) its record's header at offset %d gives", end, off)
	}
	if len(data) >= need {
		return ""
	}
	return fmt.Sprintf("the file ends at offset %d, before offset %d (%d bytes past %s) that a log of version %d always reaches: "+
		"it was cut short from outside (a crash never leaves it so), and any groups after the cut are lost", len(data), need, recHeader, what, version)
}

// FirstGroup returns the group of a log's first record (its file's bytes
// data), if that record's header checks on its own: what a tool reading
// a log aside passes ScanLog (the group before it) to read all of it.
func FirstGroup(data []byte) (uint64, bool) {
	if len(data) < logHeader {
		return 0, false
	}
	if _, ok := recordEnd(data, logHeader, binary.BigEndian.Uint64(data[16:])); !ok {
		return 0, false
	}
	gen, _ := splitGen(binary.BigEndian.Uint64(data[logHeader+8:]), binary.BigEndian.Uint32(data[8:]))
	return gen, gen > 0
}

// LiveLogStart returns the group before the first record of the log at
// path, if its header is whole and names identity id (the log the store
// file's live mark names) and its first record's header checks: where
// the file's mark stood when the log's first group was written, so at or
// below the mark since (it only grows). Recovery puts a mark no log can
// number back there when the binding, which says exactly where, is
// damaged too: replaying again groups the file holds changes nothing.
// Otherwise the error says which of those the log fails (no live mark,
// no log or an unreadable one, a damaged header, another identity, a
// damaged first record), for the refusal that follows to name its cause.
func LiveLogStart(path string, id uint64) (uint64, error) {
	if id == 0 {
		return 0, errors.New("the file names no live log (its live mark is gone, or the store was closed cleanly)")
	}
	data, err := readLogFile(path)
	switch {
	case err != nil:
		return 0, fmt.Errorf("the live log %016x cannot be read: %w", id, err)
	case len(data) < logHeader || string(data[:len(logMagic)]) != logMagic || headerCRC(data) != binary.BigEndian.Uint32(data[12:]):
		return 0, fmt.Errorf("the header of the log beside the file is damaged, so it cannot be told for the live log %016x", id)
	case binary.BigEndian.Uint64(data[16:]) != id:
		return 0, fmt.Errorf("the log's identity %016x is not the %016x of the log the file's live mark names "+
			"(another store's log, or an earlier log of this store)", binary.BigEndian.Uint64(data[16:]), id)
	}
	first, ok := FirstGroup(data)
	if !ok {
		return 0, fmt.Errorf("the log is the live log %016x, but the header of its first record (offset %d) is damaged, "+
			"so the group it starts at is unknown", id, logHeader)
	}
	return first - 1, nil
}

// recordEnd returns where the record at off ends if its header checks on
// its own (its crc covers the log's identity), whether or not its body is
// there.
func recordEnd(data []byte, off int, id uint64) (int, bool) {
	if off < 0 || len(data)-off < recHeader {
		return 0, false
	}
	h := data[off : off+recHeader]
	n := int(binary.BigEndian.Uint32(h))
	if n == 0 || binary.BigEndian.Uint32(h[4:]) != recordHCRC(id, h) {
		return 0, false
	}
	return off + recHeader + align8(n), true
}

// bindingDamage checks a log of identity id and version (its file's bytes
// data) against the store file's binding (ScanLogOf): damage at offset 0
// when the log holds records and the binding names another log, or this
// log with a mark below bbolt's; nil otherwise.
func bindingDamage(data []byte, id uint64, version uint32, applied uint64, bind LogBinding) *LogDamage {
	end := lastNonZero(data, logHeader)
	if end < 0 {
		return nil
	}
	if bind.ID == 0 {
		// No whole binding: the live mark, set with the binding of the
		// log a read-write Open created, names it all the same (until
		// the log is applied and removed or replaced).
		if bind.Live == 0 || bind.Live == id {
			return nil
		}
		return &LogDamage{Offset: 0, Bytes: int64(end + 1), Foreign: true,
			Reason: fmt.Sprintf("the log's identity %016x is not the %016x of the log the store file says is live beside it "+
				"(its binding to its log, which names it too, is missing or damaged): it is another store's log, "+
				"or an earlier log of this store", id, bind.Live)}
	}
	reason := ""
	switch {
	case id == bind.ID && bind.Gen < applied:
		// A lower mark only replays again groups bbolt holds (the replay
		// of a group is idempotent), as a damaged binding would: not
		// checked.
		reason = fmt.Sprintf("the store file's mark says it holds groups up to %d, but it took this log's groups up to %d "+
			"(a damaged mark, or a damaged binding)", applied, bind.Gen)
	case id != bind.ID && (bind.Gen >= applied || version > logV1):
		// A mark below the binding's group is damage too (marks only
		// grow: no build, binding or not, writes one lower), and the
		// binding still says which log is this store's: compared only at
		// an equal mark, another store's log whose groups follow the
		// lowered mark was replayed into this one. Under a mark above
		// the binding's group (raised by damage, or written by a build
		// that does not bind, with a log of its own since), only a log
		// of version 1 may be that build's: the builds that write later
		// versions all bind their log before they append to it, and
		// rebind it with every mark they write, so such a log the
		// binding does not name is not this store's, whatever the mark
		// says (left unchecked, another store's groups past a raised
		// mark were replayed into this one).
		reason = fmt.Sprintf("the log's identity %016x is not the %016x the store file names: "+
			"it is another store's log, or an earlier log of this store", id, bind.ID)
	default:
		return nil
	}
	d := &LogDamage{Offset: 0, Bytes: int64(end + 1), Reason: reason}
	if id == bind.ID {
		d.Bound, d.BoundSet = bind.Gen, true
	} else {
		d.Foreign = true
	}
	return d
}

// heldOf is the last group bbolt holds of the log of identity id, as the
// scan checks the log's end against it: the mark, or, with the mark below
// the group the file's whole binding to this log names (damage: no
// commit moves a mark back), the binding's group. A replay from the
// lowered mark changes nothing only if it runs through that group.
func heldOf(id, applied uint64, bind LogBinding) uint64 {
	if bind.ID != 0 && id == bind.ID && bind.Gen > applied {
		return bind.Gen
	}
	return applied
}

// boundLowered marks damage the scan found before its valid records reach
// the group the file's whole binding to this log names, under a mark
// lowered below it (heldOf): the groups kept before the damage are groups
// bbolt holds, and replayed without the ones after them they would write
// an earlier state over the file's. Recovery replays from the binding's
// group instead (LogDamage.Bound), keeping none of them, and puts the
// mark back there; a read-only Open reads from there, or refuses.
func boundLowered(sc *LogScan, prev, held, applied uint64) *LogScan {
	if d := sc.Damage; d != nil && held != applied && prev < held && !d.BoundSet && !d.Foreign {
		d.Bound, d.BoundSet, d.Below = held, true, true
	}
	return sc
}

// lastNonZero returns the index of the last non-zero byte of data at or
// after from, or -1.
func lastNonZero(data []byte, from int) int {
	for i := len(data) - 1; i >= from; i-- {
		if data[i] != 0 {
			return i
		}
	}
	return -1
}

// LogDamage describes a log whose valid records stop before its end.
type LogDamage struct {
	Offset int64  // where the first bad record (or header) starts
	Group  uint64 // the group that should have been there (0: unknown)
	// Later records that check on their own after the damage (groups
	// LaterFirst..LaterLast), and the bytes from Offset to the last
	// non-zero byte: what recovery drops.
	LaterFirst, LaterLast uint64
	Bytes                 int64
	Reason                string
	// Bound, if not zero, says that the damage is bbolt's mark, above
	// the group the file's binding to this log says it holds (Bound):
	// the log itself may be whole (recovery replays it from Bound).
	Bound uint64
	// BoundSet says Bound is set: the binding's group may be 0 (a file
	// that took no group of its log), which Bound alone reads as none,
	// and recovery then dropped the whole log under a mark raised one bit
	// above 0 (TestRecoverARaisedMarkOverABindingAtGroupZeroKeepsTheLog).
	BoundSet bool
	// Below (with Bound) says that the damage lies below Bound, under a
	// mark lowered by damage (boundLowered): the chain through it is
	// lost, so recovery puts the mark back at Bound and keeps none of the
	// log's groups, those past Bound after the damage included. Open's
	// refusal says so: "replay the log from there" read as if nothing
	// were lost.
	Below bool
	// Resumed says that nothing is lost with the damage: it is in
	// records of groups the store file holds already, in a proof, or in
	// the header (rebuiltHeader), and the log's records after it are
	// whole and take the chain up again (resumeAt): recovery keeps every
	// group past the file's mark
	// (LogScan.Groups), drops none, and Bytes is the span from the damage
	// to where the chain takes up (not replayed).
	Resumed bool
	// CutFirst..CutLast (with Resumed; 0, 0 for none) are the groups the
	// chain, taken up again, ended in as a power cut's: records all
	// written before the group at their start was durable, after a lost
	// proof or a torn record (LogScan.Cut), dropped as Open drops them.
	// Nothing is lost with the damage, but those groups are not kept.
	CutFirst, CutLast uint64
	// Gap says that the log's records are whole and start past the
	// group after the file's mark (gapDamage): Group..LaterFirst-1 are in
	// neither the file nor the log.
	Gap bool
	// Short says that the file ends too soon after its valid records for
	// a crash to have left it (versions 2 to 5): cut short from outside.
	Short bool
	// Foreign says that no byte need be damaged: the log is not the one
	// the store file is bound to (another store's, or an earlier log of
	// this store), so none of its records are this file's.
	Foreign bool
	// Unverified (with Foreign) says that the log holds groups past the
	// file's mark and that nothing in the file names it: its binding is
	// damaged and no live mark names a log (unverifiedDamage). It may be
	// another store's; recovery treats it as one (keeping none of it).
	Unverified bool
}

// unverifiedDamage is the damage of a log whose groups groups (past the
// file's mark) nothing in the file names (LogBinding.Damaged with no live
// mark): a store binds its log, and sets its live mark, before it appends
// to it, and clears the live mark only once bbolt holds the log, so its
// own log holds no group past the mark beside a file whose binding is
// damaged unless its live mark is there too (or is damaged as well).
// Replayed, another store's log (copied beside the file) would put its
// checkpoints into this one: refused instead (nil when nothing says so).
func unverifiedDamage(data []byte, groups []Group, bind LogBinding) *LogDamage {
	if bind.ID != 0 || !bind.Damaged || bind.Live != 0 || len(groups) == 0 {
		return nil
	}
	first, last := groups[0].Gen, groups[len(groups)-1].Gen
	return &LogDamage{Offset: 0, Group: first, LaterFirst: first, LaterLast: last, Bytes: int64(lastNonZero(data, 0) + 1),
		Foreign: true, Unverified: true,
		Reason: fmt.Sprintf("the log holds groups %d-%d past the store file's mark, and nothing in the file names the log: "+
			"its binding to its log (which says whose log it is) is damaged, and no live mark names one; another store's "+
			"log copied beside this file would put that store's checkpoints in it", first, last)}
}

// Err is the damage as the error Open returns (ErrCorrupt), naming the
// log at path and what ckpt recover would do.
func (d *LogDamage) Err(path string) error {
	if d.Unverified {
		return fmt.Errorf("%w: write-ahead log %s may not be this store's: %s; nothing was changed; "+
			"run `ckpt recover` (ckpt.RecoverLog) to move the log aside keeping none of its groups (if it is this store's "+
			"own log, put it back beside the file after that: the file then names no log, and Open replays it)", ErrCorrupt, path, d.Reason)
	}
	if d.Resumed && d.CutLast != 0 {
		cut := fmt.Sprintf("groups %d-%d", d.CutFirst, d.CutLast)
		if d.CutFirst == d.CutLast {
			cut = fmt.Sprintf("group %d", d.CutFirst)
		}
		return fmt.Errorf("%w: write-ahead log %s: %s at offset %d; nothing was changed, and nothing is lost with the damage, but "+
			"the log ends in the record of %s, written before it was known durable (a power cut during its fsync: never acknowledged "+
			"as durable), which is dropped; run `ckpt recover` (ckpt.RecoverLog) to replay the log's groups past the file's mark before "+
			"it into the file and move the log aside", ErrCorrupt, path, d.Reason, d.Offset, cut)
	}
	if d.Resumed {
		return fmt.Errorf("%w: write-ahead log %s: %s at offset %d; nothing was changed and nothing is lost; run `ckpt recover` "+
			"(ckpt.RecoverLog) to replay the log's groups past the file's mark into it and move the log aside", ErrCorrupt, path, d.Reason, d.Offset)
	}
	if d.BoundSet && d.Below {
		lost := ""
		if d.LaterLast > d.Bound {
			lost = fmt.Sprintf(", and valid records of this log after it, up to group %d, which no replay reaches through the damage "+
				"(groups %d-%d, past the binding's group, are lost with it)", d.LaterLast, d.Bound+1, d.LaterLast)
		}
		return fmt.Errorf("%w: write-ahead log %s: %s at offset %d, below group %d, which the file's binding to this log says the "+
			"file took (the file's mark, lower, is damaged)%s; nothing was changed; run `ckpt recover` (ckpt.RecoverLog) to put the mark "+
			"back at group %d and move the log aside, keeping none of its groups", ErrCorrupt, path, d.Reason, d.Offset, d.Bound, lost, d.Bound)
	}
	if d.BoundSet {
		return fmt.Errorf("%w: write-ahead log %s: %s; nothing was changed; run `ckpt recover` (ckpt.RecoverLog) to put the "+
			"mark back at group %d, where the file's binding to this log says it was, and replay the log from there "+
			"(a group the file holds already, replayed again, changes nothing)", ErrCorrupt, path, d.Reason, d.Bound)
	}
	if d.Foreign {
		return fmt.Errorf("%w: write-ahead log %s is not this store's: %s; nothing was changed; "+
			"run `ckpt recover` (ckpt.RecoverLog) to move the log aside", ErrCorrupt, path, d.Reason)
	}
	if d.Short {
		return fmt.Errorf("%w: write-ahead log %s: %s; nothing was changed; "+
			"run `ckpt recover` (ckpt.RecoverLog) to keep the records before offset %d and move the log aside", ErrCorrupt, path, d.Reason, d.Offset)
	}
	if d.LaterFirst == 0 {
		return fmt.Errorf("%w: write-ahead log %s: %s at offset %d; nothing was changed; "+
			"run `ckpt recover` (ckpt.RecoverLog) to move the log aside", ErrCorrupt, path, d.Reason, d.Offset)
	}
	// LaterFirst may be d.Group itself (a proof of it, or its record's
	// header whole): "groups 1-4 after it" read as if group 1 were both
	// bad and valid.
	return fmt.Errorf("%w: write-ahead log %s: %s at offset %d (where group %d should be), and valid records of this log after it, up to group %d "+
		"(which show it is no torn tail of a crash); nothing was changed; run `ckpt recover` (ckpt.RecoverLog) to keep the records before it and move the log aside",
		ErrCorrupt, path, d.Reason, d.Offset, d.Group, d.LaterLast)
}

// LogScan is what ScanLog found in a log file.
type LogScan struct {
	Groups []Group    // the valid prefix, groups after applied only
	Damage *LogDamage // nil: the log is whole, or ends in a torn record
	// Cut, if not nil, is a bad record followed by valid ones that were
	// all written before it was durable, dropped with them as a power
	// cut's (scanLog): what Groups lacks of the log.
	Cut    *LogDamage
	Legacy bool // the log is of the format before the header
}
