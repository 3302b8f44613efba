package engine

// The scan of a log file: its chain of records from the header, and what
// the bytes after the chain's end say about it (a torn tail, a power cut,
// damage). The format is wal.go's.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// scanLog is ScanLogOf on the bytes of the log file at path.
func scanLog(path string, data []byte, applied uint64, bind LogBinding) (*LogScan, error) {
	ours := len(data) >= len(logMagic) && string(data[:len(logMagic)]) == logMagic
	whole := ours && len(data) >= logHeader && headerCRC(data) == binary.BigEndian.Uint32(data[12:])
	var version uint32
	if whole {
		if version = binary.BigEndian.Uint32(data[8:]); version < logV1 || version > logVersion {
			return nil, fmt.Errorf("%w: write-ahead log %s has version %d; this build reads versions %d to %d", ErrFormatVersion, path, version, logV1, logVersion)
		}
	}
	if !whole {
		if fixed, ok := rebuiltHeader(data, bind); ok {
			// Nothing of the header is lost: scanned with it put back,
			// and refused all the same (damaged bytes), recovery keeps
			// every group.
			sc, err := scanLog(path, fixed, applied, bind)
			if err == nil && sc.Damage == nil {
				sc.Damage = &LogDamage{Offset: 0, Bytes: logHeader, Resumed: true,
					Reason: "the log header is damaged (the store file's binding to its log names its identity, and its first record, whole, its crc)"}
				cutTail(sc)
			}
			return sc, err
		}
		if !ours {
			if groups, ok, err := readLegacyLog(path, data, applied); ok || err != nil {
				return &LogScan{Groups: groups, Legacy: true}, err
			}
			// Not the magic and no record of the old format: an old log
			// whose first append was cut short holds nothing, unless a
			// record of this format follows, of the identity in the
			// damaged header or of the log the store file is bound to
			// (the whole header, or the first sector, zeroed: its identity
			// is gone too): then the header is damaged.
			if len(data) < logHeader {
				return &LogScan{}, nil
			}
			if !anyRecord(data, binary.BigEndian.Uint64(data[16:]), bind.ID) {
				return &LogScan{Legacy: true}, nil
			}
		}
		// The header is written and fsync'd before any record: a damaged
		// header with nothing after it is a creation cut short.
		if lastNonZero(data, logHeader) < 0 {
			return &LogScan{}, nil
		}
		return &LogScan{Damage: &LogDamage{Offset: 0, Bytes: int64(lastNonZero(data, 0) + 1),
			Reason: "the log header (its identity) is damaged while records follow"}}, nil
	}
	id := binary.BigEndian.Uint64(data[16:])
	if d := bindingDamage(data, id, version, applied, bind); d != nil {
		return &LogScan{Damage: d}, nil
	}
	seed := binary.BigEndian.Uint32(data[12:])
	sc := &LogScan{}
	var prev uint64 // gen of the last valid record, 0 before the first
	// passed is the first damage the scan passed over, the chain taken
	// up again after it (resumeAt).
	var passed *LogDamage
	off := logHeader
	for {
		r, ok := parseRecord(data, off, id, version)
		reason := "bad record"
		if ok && r.seed == seed && r.proof {
			switch {
			case prev != 0 && r.gen == prev && proofBody(r.body, version):
				// The proof that the record before it was durable (commit.go's
				// vouch): no group of its own.
				seed = r.crc
				off += r.size
				continue
			case prev != 0 && r.gen > prev:
				sc.Damage = &LogDamage{Offset: int64(off), Group: prev + 1, LaterFirst: r.gen, LaterLast: r.gen,
					Bytes:  int64(lastNonZero(data, off) + 1 - off),
					Reason: fmt.Sprintf("a proof of group %d follows group %d", r.gen, prev)}
				return sc, nil
			default:
				// A proof of an earlier group (an earlier pass over the file,
				// chained as the record below says), one first in its pass
				// (never written), or one with changes: the chain ends here.
				ok = false
			}
		}
		if ok && r.seed == seed && prev != 0 && r.gen <= prev {
			// A record of an earlier pass over the file: its seed matches
			// because the new pass began with a record of the same body
			// (the same write again), whose crc is the same (a record's
			// crc covers its body from its seed, not its gen). Whole, it
			// was not overwritten: the new pass ends here.
			ok = false
		}
		if ok && r.seed == seed && prev != 0 && r.gen != prev+1 {
			// Whole and chained, but not the next group: a bug or a
			// forgery, never a torn write.
			sc.Damage = &LogDamage{Offset: int64(off), Group: prev + 1, LaterFirst: r.gen, LaterLast: r.gen,
				Bytes:  int64(lastNonZero(data, off) + 1 - off),
				Reason: fmt.Sprintf("group %d follows group %d", r.gen, prev)}
			for p := off + 8; p+recHeader <= len(data); p += 8 {
				if r, ok := parseRecord(data, p, id, version); ok {
					sc.Damage.LaterLast = max(sc.Damage.LaterLast, r.gen)
				}
			}
			return sc, nil
		}
		if ok && r.seed == seed {
			muts, err := decodeMuts(r.body)
			if err == nil {
				if r.gen > applied {
					if len(sc.Groups) == 0 && r.gen != applied+1 {
						return &LogScan{Damage: gapDamage(data, off, id, version, r.gen, applied, bind)}, nil
					}
					sc.Groups = append(sc.Groups, Group{Gen: r.gen, Muts: muts, Size: r.size, LogID: id})
				}
				prev, seed = r.gen, r.crc
				off += r.size
				continue
			}
			reason = "undecodable record"
		}
		// The valid records end at off. If a later record checks on its
		// own and is newer than any this log held before (a record of an
		// earlier pass over the file has a lower gen), what lies at off is
		// damage, or a power cut during an fsync that covered both (the
		// disk wrote the later page back first). The later records' lag
		// tells them apart (wal.go's header): one written once the group
		// at off was durable says that group was whole then, so it is
		// damage, refused; if every one was written before (NoSync
		// groups), a power cut may have kept them and lost it, and none
		// of them was acknowledged as durable (trySeal): the log ends at
		// off, as after a torn tail. Versions 1 and 2 do not record the
		// lag: always refused. Only a record's own crcs decide (not the
		// chain), since the chain through the damaged record is lost.
		want := max(prev, applied) + 1
		held := heldOf(id, applied, bind) // the mark, or the binding's group above a lowered one
		d := &LogDamage{Offset: int64(off), Group: want, Reason: reason}
		// Nothing but zeros past off: nothing past it is dropped.
		end := max(lastNonZero(data, off)+1, off)
		vouched := false
		for p := off + 8; p+recHeader <= len(data); p += 8 {
			r, ok := parseRecord(data, p, id, version)
			if !ok {
				continue
			}
			if r.gen >= want {
				if d.LaterFirst == 0 {
					d.LaterFirst = r.gen
				}
				d.LaterLast = max(d.LaterLast, r.gen)
				end = max(end, p+r.size)
				vouched = vouched || version < logV3 || r.durable >= want
			}
			if prev == 0 && r.gen == applied+1 {
				// The pass's first record is bad and the record after it
				// is group applied+1: the bad one is a group bbolt holds,
				// which it took only once the log was durable up to it
				// (logDurable). Damage, whatever the lag says (want is
				// applied+1 here, not the bad record's own group).
				vouched = true
			}
			p += r.size - 8 // a whole record (maybe of an earlier pass): skip it
		}
		if d.LaterFirst != 0 && !vouched {
			// A power cut's: dropped, as a torn tail is (the checks below
			// still apply to what is left).
			d.Bytes = int64(end - off)
			d.Reason = fmt.Sprintf("%s, with records of groups %d-%d after it all written before it was durable (a power cut during their fsync)", reason, d.LaterFirst, d.LaterLast)
			sc.Cut = d
			d = &LogDamage{Offset: int64(off), Group: want, Reason: reason}
		}
		if d.LaterFirst != 0 {
			d.Bytes = int64(end - off)
			sc.Damage = d
		} else if short := cutShort(data, off, id, version, bind); short != "" {
			d.Bytes = int64(end - off)
			d.Reason, d.Short = short, true
			sc.Damage = d
		} else if prev != 0 && prev < held {
			// The valid records end below bbolt's mark. bbolt takes a group
			// only once it is durable here (the applier fsyncs the log
			// first when a NoSync group's record is not yet, and Open
			// before it replays what a killed process left in the page
			// cache), and the log is emptied or rewound only when bbolt
			// holds all of it, so its records always reach the mark: a
			// record bbolt applied is damaged, the mark is (it has no
			// checksum; raised, it would make Open skip groups bbolt never
			// took), or the log is an earlier copy of itself.
			d.Bytes = int64(end - off)
			d.Reason = fmt.Sprintf("the valid records end at group %d, but the store says it holds groups up to %d (a damaged record, or a damaged mark)", prev, applied)
			if held != applied {
				// A mark lowered by damage (boundLowered below).
				d.Reason = fmt.Sprintf("the valid records end at group %d, but the store file's binding to this log says it took "+
					"its groups up to %d (its mark, %d, is lower: a damaged mark), so the log is an earlier copy of itself or a "+
					"record it held is damaged; replayed from the mark, its groups would write an earlier state over the file's",
					prev, held, applied)
			}
			sc.Damage = d
		}
		sc = boundLowered(sc, prev, held, applied)
		if sc.Damage == nil && sc.Cut != nil && prev != 0 {
			if size, crc, ok := flippedProof(data, off, id, version, seed, prev); ok {
				// Not a power cut's: the proof of prev was whole on the
				// disk, then a byte of it changed. The records after it
				// were written once prev was durable; the proof of the
				// last (not fsync'd: proof.go) a power cut may have taken
				// after its group was acknowledged, so they are no power
				// cut's either. Read on as if the proof were whole.
				sc.Cut = nil
				seed, off = crc, off+size
				continue
			}
		}
		if d := sc.Damage; d != nil && !d.Short && !d.BoundSet {
			if p, r, ok := resumeAt(data, off, id, version, seed, prev, applied, bind); ok {
				// Nothing is lost with the damage: the chain takes up
				// again at p. Refused all the same (passed): damaged
				// bytes say the disk, or something beside the store,
				// changed them; recovery, the explicit step, keeps every
				// group. What was found past the damage (a power cut's
				// records, later records) is the resumed chain's now.
				if passed == nil {
					passed = &LogDamage{Offset: int64(off), Group: prev + 1, Bytes: int64(p - off), Resumed: true,
						Reason: fmt.Sprintf("%s where only a proof that group %d was durable was", reason, prev)}
					if prev < applied {
						passed.Reason = fmt.Sprintf("%s in a record of a group the store file holds already (it holds groups up to %d)", reason, applied)
					}
				}
				sc.Damage, sc.Cut = nil, nil
				prev, seed, off = r.gen-1, r.seed, p
				continue
			}
		}
		if passed != nil && sc.Damage == nil {
			// The log is whole past the damage (a torn tail or a power
			// cut's records at its end are dropped as ever).
			passed.Reason += ", with the log's records after it whole"
			if len(sc.Groups) > 0 {
				passed.Reason += fmt.Sprintf(" and following on from there (groups %d-%d)", sc.Groups[0].Gen, sc.Groups[len(sc.Groups)-1].Gen)
			}
			sc.Damage = passed
			cutTail(sc)
		}
		return sc, nil
	}
}

// cutTail notes on the Resumed damage of sc the groups the scan dropped
// at the log's end as a power cut's (sc.Cut): nothing is lost with the
// damage, but those are not kept either, and what recovery says must not
// read as if every group were.
func cutTail(sc *LogScan) {
	if c := sc.Cut; c != nil && sc.Damage != nil && sc.Damage.Resumed {
		sc.Damage.CutFirst, sc.Damage.CutLast = c.Group, max(c.Group, c.LaterLast)
	}
}

// resumeAt returns where the chain of a log, ended by damage at off after
// the record of group prev, takes up again, if the damage can have cost
// no group bbolt lacks (it holds groups up to applied): the first record
// after off that checks on its own and holds a group past both (base)
// must hold the next one, base+1, and not be a proof of it. Every record
// of a group past the mark is of the log's current pass (the log is
// rewound only once bbolt holds all of it, so an earlier pass ends at or
// below the mark) and group numbers are never reused, so that record is
// the one that followed the damaged bytes:
//
//   - prev below applied: the damaged record is of a group bbolt holds
//     (it took the group once the log was durable up to it: the record
//     was whole then), and the groups after it up to applied are held
//     too. Only for a file bound to this log at this very mark (neither
//     damaged: a raised mark would skip groups bbolt never took; a
//     lowered one is Bound damage, which the caller does not resume).
//   - prev at or past applied:
//     nothing but proofs of prev lies between its record and the next
//     group's, which is whole; the damage was in a proof.
//
// Both hold only for the log's current pass past the mark. With the
// pass's first record damaged (prev 0), where the pass began is unknown:
// the file may be an older copy put back beside its log, rewound since,
// the earlier pass's records past the file's mark whole after the new
// pass's end. Then the record after the damaged one must chain to it
// (chainsOn), which says the pass goes on there.
//
// ok is false when the damaged record's own header (if it checks) says
// it holds a group past base, when the record found holds a later group,
// or is a proof (the next group's record is then damaged or missing, and the groups
// after it do not go in without it), or there is none (an earlier copy
// of the log holds none past its end either).
func resumeAt(data []byte, off int, id uint64, version uint32, seed uint32, prev, applied uint64, bind LogBinding) (int, logRecord, bool) {
	if prev < applied && (bind.ID != id || bind.Gen != applied) {
		return 0, logRecord{}, false
	}
	if prev == 0 && !chainsOn(data, off, id, version, seed) {
		// The pass's first record is damaged: where the pass began is
		// unknown, and so is whether an earlier pass ends at or below the
		// mark (an older copy of the store file put back beside its log,
		// rewound since, sees the earlier pass's records past its mark
		// after the damage). Only the record after the damaged one,
		// chained to it, says the pass goes on there.
		return 0, logRecord{}, false
	}
	base := max(prev, applied)
	if _, ok := recordEnd(data, off, id); ok {
		// The damaged record's own header checks: if it says it holds a
		// group past base, that group is lost with the damage, whatever
		// follows (an older copy of the file put back beside its log:
		// the records past its mark after the damage are of an earlier
		// pass).
		if gen, _ := splitGen(binary.BigEndian.Uint64(data[off+8:]), version); gen > base {
			return 0, logRecord{}, false
		}
	}
	for p := off + 8; p+recHeader <= len(data); p += 8 {
		r, ok := parseRecord(data, p, id, version)
		if !ok {
			continue
		}
		if r.gen > base {
			return p, r, r.gen == base+1 && !r.proof
		}
		p += r.size - 8 // a whole record: skip it
	}
	return 0, logRecord{}, false
}

// chainsOn tells whether the first record after off that checks on its
// own chains to the damaged record at off (chained itself from seed):
// its seed is that record's crc, as the damaged record's header holds it,
// or as its body gives from seed with the length its header holds (one
// byte damaged leaves one of the two whole), and the damaged record holds
// the group that record follows (genFits). A record of an earlier pass
// there chains to that pass's record before it, not to this one, but for
// a new pass begun with that record's very body: the group tells them
// apart (TestAFlipInASecondPassFirstWriteOfTheSameBodyLosesItsGroupAloud).
func chainsOn(data []byte, off int, id uint64, version uint32, seed uint32) bool {
	if len(data)-off < recHeader {
		return false
	}
	for p := off + 8; p+recHeader <= len(data); p += 8 {
		r, ok := parseRecord(data, p, id, version)
		if !ok {
			continue
		}
		linked := r.seed == binary.BigEndian.Uint32(data[off+20:])
		if !linked {
			n := uint64(binary.BigEndian.Uint32(data[off:]))
			if n == 0 || n > uint64(p-off-recHeader) {
				return false
			}
			end := off + recHeader + align8(int(n))
			linked = end <= p && crc32.Update(seed, crcTable, data[off+recHeader:end]) == r.seed
		}
		// Linked by crc alone is not enough: a new pass that began with
		// the same write as the earlier pass's first record (the same
		// body from the same seed) has that record's crc, and the earlier
		// pass's records after it chain to it as they did to that one.
		// The damaged record must also be the group the record after it
		// follows (a proof's own group, or the group before a record's).
		want := r.gen
		if !r.proof {
			want--
		}
		return linked && r.gen != 0 && genFits(data[off:off+recHeader], id, version, want)
	}
	return false
}

// genFits tells whether the damaged record header h (one byte of it
// damaged) holds group want: its gen field says so, or the damaged byte
// is in that field and the header with want there checks (the rest of it,
// its crc included, is whole then).
func genFits(h []byte, id uint64, version uint32, want uint64) bool {
	field := binary.BigEndian.Uint64(h[8:])
	if gen, _ := splitGen(field, version); gen == want {
		return true
	}
	if version < logV3 {
		field = want
	} else {
		field = field&^maxGen | want
	}
	fixed := bytes.Clone(h[:recHeader])
	binary.BigEndian.PutUint64(fixed[8:], field)
	return binary.BigEndian.Uint32(fixed[4:]) == recordHCRC(id, fixed)
}

// rebuiltHeader returns the bytes of a log whose header is damaged with
// the header put back, when nothing of it is unknown: its identity is the
// one the store file's binding (or, that damaged, its live mark) names;
// the first record checks on its own against that identity (its header
// and body crcs do not depend on the log's version), and its seed is the
// header's crc, which the header of one version only gives (magic,
// version and identity are all it covers). A first record damaged too, or
// a log the file does not name, is not rebuilt.
func rebuiltHeader(data []byte, bind LogBinding) ([]byte, bool) {
	id := bind.ID
	if id == 0 {
		id = bind.Live
	}
	if id == 0 {
		return nil, false
	}
	r, ok := parseRecord(data, logHeader, id, logVersion)
	if !ok {
		return nil, false
	}
	var header []byte
	for v := uint32(logV1); v <= logVersion; v++ {
		h := append([]byte(logMagic), make([]byte, logHeader-len(logMagic))...)
		binary.BigEndian.PutUint32(h[8:], v)
		binary.BigEndian.PutUint64(h[16:], id)
		if c := headerCRC(h); c == r.seed {
			if header != nil {
				return nil, false
			}
			binary.BigEndian.PutUint32(h[12:], c)
			header = h
		}
	}
	if header == nil {
		return nil, false
	}
	fixed := bytes.Clone(data)
	copy(fixed, header)
	return fixed, true
}

// flippedProof tells whether the bytes at off are the proof of group gen
// chained from seed (the log of identity id and version), as the writer
// made it (AppendProof: a body of one byte, or padded up to the next
// proofAlign boundary in version 5), but for exactly one byte: the proof
// was whole on the disk and one byte of it changed. A power cut leaves a
// block, or a sector, as it was before or as written, not one byte of a
// proof: a proof it took leaves zeros or an earlier pass's bytes there.
// It returns the proof's size and crc (the next record's seed).
func flippedProof(data []byte, off int, id uint64, version uint32, seed uint32, gen uint64) (int, uint32, bool) {
	if version < logV4 {
		return 0, 0, false
	}
	sizes := []int{1}
	if version > logV4 && off%proofAlign != 0 {
		next := (off + proofSize + proofAlign - 1) / proofAlign * proofAlign
		sizes = append(sizes, next-off-recHeader)
	}
	for _, n := range sizes {
		want, crc := appendProof(nil, id, seed, gen, n)
		if off+len(want) > len(data) {
			continue
		}
		diff := 0
		for i, b := range want {
			if data[off+i] != b {
				if diff++; diff > 1 {
					break
				}
			}
		}
		if diff == 1 {
			return len(want), crc, true
		}
	}
	return 0, 0, false
}
