package engine

// The write-ahead log: each group of writes is one record appended to the
// file beside the store (path + "-wal") and fsync'd once, which is all a
// Sync write waits for. bbolt pays two fsyncs and writes every page a group
// touches; the log pays one fsync and writes the changed bytes. A
// background applier (applier.go) replays the records into bbolt in large
// batches, and the read overlay (overlay.go) shows readers what is logged
// but not applied yet. This file knows
// the log's format and file only: bucket paths are opaque [][]byte.
//
// File format, versions 1 to 4 (modelled on etcd's
// server/storage/wal):
//
//	header (24 bytes) = magic "ckpt-wal" | version u32 | crc u32 | identity u64
//	record            = len u32 | hcrc u32 | lag u16 | gen u48 | seed u32 | crc u32
//	                    | body (len bytes) | zeros up to a multiple of 8
//	body              = count uvarint | count x Mutation
//	Mutation          = op u8 | parts uvarint | parts x (len uvarint | name)
//	                    | len uvarint | key | len uvarint | value | seq uvarint
//
// identity is random and new for every created log; the header's crc covers
// magic, version and identity. Each record's seed is the crc of the record
// before it (the header's crc for the first), and its crc is CRC-32C over
// body and padding, continued from seed: the crcs chain, so a record left
// from an earlier pass over the file cannot pass as the next one. hcrc
// covers the identity and the record's other header fields: a record can be
// checked on its own, without the chain, which is how recovery tells a torn
// tail from corruption (ReadLog). Records start at multiples of 8, so a
// length field never straddles a sector. The file grows by preallocated
// zeros (reserve): a zero length marks the end.
//
// Versions 1 and 2 have gen u64 where versions 3 and 4 have lag u16 | gen u48 (the
// same 8 bytes; a gen below 2^48, all a store ever reaches, reads the
// same). lag is gen minus the last group the log was known durable up to
// (fsync'd, or held by bbolt) when the record was written: 1 when every
// group before it was, more when a record before it was not yet durable
// (NoSync groups are not fsync'd alone), 65535 for that many or more
// (nothing known). A disk may write back the pages of one fsync in any
// order, so a power cut during it can keep a later record whole and lose
// an earlier one: a bad record followed by a valid one. The lag tells that from damage: if every valid
// record after the bad one was written before the bad one's group was
// durable, a power cut may have left them so, and the scan drops them
// all, as a torn tail; if one was written once that group was durable,
// the group was whole on the disk then, and the scan refuses it as
// damage (ErrCorrupt; ckpt recover keeps the records before it, or every
// group when the damage cost none bbolt lacks: wal_scan.go's resumeAt).
// A proof one byte off what the writer made was whole on the disk (a
// power cut never leaves one byte of it): read as whole (flippedProof).
// Dropping is safe because the commit loop (trySeal, open_group.go)
// writes no record while the fsync it asked for is in flight, writes a
// record that callers wait for (a Sync op's group, a Flush's) only once
// every record before it is durable (lag 1), and acknowledges groups as
// durable only once a record after them says they were: the next group's
// (lag 1), or else a proof (version 4), a record with lag 0 and no changes
// (body: count 0) that says the log was durable up to its gen, the group
// of the record before it (commit.go's vouch). A proof is no group: it
// takes no number and nothing replays it. So every acknowledged record,
// the last one too, has a record after it written once it was durable:
// damage to it is refused. In version 5 that holds for a block of the
// medium lost whole too (zeroed, or another's bytes: a device that drops
// or misdirects a write): the proof right after a record shares its last
// block, so unless the record ends on a block boundary the proof is
// padded (zeros in its body) up to the next proofAlign boundary and a
// second proof follows there, in a block of its own. Lose the block
// holding the record's end and its first proof, and the second, found
// by the scan after the bad record, says the record was durable:
// refused. Lose the second's, and the record and its first proof are
// whole. What the scan may drop is NoSync groups a
// power cut may take anyway, and a last record never acknowledged as
// durable (a torn tail to any log); damage to a proof at the end loses
// nothing. Versions 1 and 2 do not record the lag: a bad record followed
// by a valid one is always refused there. Version 3 has no proofs: its
// last record, damaged, reads as a torn tail; version 4's proof is never
// padded, so a block lost over its last record and proof reads as one.
//
// Versions 2 to 5 promise that the file extends at least
// recHeader bytes past the end of every record ever written into it, and
// past the header (logHeader + recHeader) once CreateLog returned; version
// 1 logs (older builds) promise nothing and are read as before. So a
// version-2 to -5 file that ends less than recHeader bytes after its chain's
// last record, or after the end a record's checked header gives, was cut
// short from outside (a partial copy, a tool): the groups after the cut,
// acknowledged, are gone, and ScanLogOf reports damage (ErrCorrupt; `ckpt
// recover` keeps the records). A crash never leaves such a file:
//
//   - A record is written only after reserve has set the file's length to
//     at least its end + recHeader and fdatasync'd that length. No file
//     system shortens a file below the length its last completed fsync
//     made durable, whatever a crash does to writes after it: unsynced
//     growth (i_size moved page by page during a write, written back in
//     part) can leave any length from the durable one up, but the durable
//     one already covers every record written since. Had the growth not
//     been fsync'd (zeros written, the next group's fsync left to commit
//     the length), writeback could leave an unacknowledged record whole
//     with the file ending at a page boundary right at its end: a crash,
//     refused (wal_crash_test.go shows it).
//   - A record over walGrow grows the file to its own end + recHeader.
//   - Where walGrow does not fit on the disk, the file grows by what the
//     record needs, fsync'd the same way; a record that does not fit is
//     not written (ErrDiskFull: its group fails alone), and a record whose
//     write was cut short by a full disk has its header zeroed (takeBack):
//     the next group, of the same number, goes in its place.
//   - Rewind leaves the earlier records after the new chain: the file is
//     already as long as they need. A file shrinks only at a new pass's
//     start, and then to its header alone (Log.Shrink, fsync'd before the
//     pass's first record): a cut inside the earlier records would leave
//     one of their headers giving an end past the file's, which the new
//     pass's chain may end at (CreateLog's O_TRUNC starts a log of
//     another identity). Every pass chains from
//     the header's crc, so the earlier pass's first record has its
//     header zeroed and fsync'd before the new pass writes its own there
//     (Log.ClearHead): torn, or lost with a later record kept, the new
//     first record would otherwise let the earlier pass read from the
//     header again, ending below bbolt's mark.
//   - Erase writes zeros over records and keeps the file's length.
//   - CreateLog writes the header and recHeader zeros and fsyncs them before
//     the file is bound to the log (Mark.Bind): a crash inside it leaves
//     any length, but the binding then names the log before; only a file
//     bound to this log and shorter than logHeader + recHeader is cut.
//
// gen numbers the groups 1, 2, 3, ... across the life of the store file;
// bbolt's meta bucket records the last gen applied, in the transaction that
// applies it. The log starts again from its first record whenever bbolt
// holds everything in it, and is removed by a clean Close.
//
// A log written before this format (no header: len u32 | crc32c(body) u32 |
// gen u64 | muts, unaligned) is still read and replayed, so an upgrade after
// a crash loses nothing (readLegacyLog).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
)

type MutOp uint8

const (
	MutPut  MutOp = 1 + iota // put key=val in path (creating buckets)
	MutDel                   // delete key from path
	MutDrop                  // drop the bucket at path
	MutSeq                   // raise path's sequence to seq (creating buckets)
)

// Mutation is one logged change; the store replays it through its writer.
type Mutation struct {
	Op       MutOp
	Path     [][]byte // bucket names from the root; opaque to the log
	Key, Val []byte
	Seq      uint64
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

const (
	logMagic   = "ckpt-wal"
	logVersion = 5  // what CreateLog writes: version 4's, with a proof's second copy a block on (above)
	logV4      = 4  // written by older builds: version 3's, with proofs (lag 0, above)
	logV3      = 3  // written by older builds: version 2's, with each record's lag (above)
	logV2      = 2  // written by older builds: version 1's bytes, and its tail kept (above)
	logV1      = 1  // written by older builds: no promise on the tail
	logHeader  = 24 // magic | version u32 | crc u32 | identity u64
	recHeader  = 24 // len u32 | hcrc u32 | gen u64 | seed u32 | crc u32
)

// appendLogHeader encodes a log's header; it returns the header's crc, the
// seed of the first record.
func appendLogHeader(b []byte, id uint64) ([]byte, uint32) {
	start := len(b)
	b = append(b, logMagic...)
	b = binary.BigEndian.AppendUint32(b, logVersion)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, id)
	crc := headerCRC(b[start:])
	binary.BigEndian.PutUint32(b[start+12:], crc)
	return b, crc
}

func headerCRC(h []byte) uint32 {
	c := crc32.Update(0, crcTable, h[:12])
	return crc32.Update(c, crcTable, h[16:24])
}

// recordHCRC is the crc of a record's header fields and the log's identity.
func recordHCRC(id uint64, h []byte) uint32 {
	var idb [8]byte
	binary.BigEndian.PutUint64(idb[:], id)
	c := crc32.Update(0, crcTable, idb[:])
	c = crc32.Update(c, crcTable, h[:4])
	return crc32.Update(c, crcTable, h[8:recHeader])
}

func align8(n int) int { return (n + 7) &^ 7 }

// maxGen bounds a group's number in a record of version 3 (48 bits).
const maxGen = 1<<48 - 1

// lagUnknown is the lag of a record written with no group within 65534
// before it known durable.
const lagUnknown = 1<<16 - 1

// genField packs a record's gen and lag (version 3): lag is gen minus
// durable, the last group the log was known durable up to when the record
// was written (durable < gen).
func genField(gen, durable uint64) uint64 {
	return min(gen-durable, lagUnknown)<<48 | gen
}

// splitGen reads a record header's gen field in a log of the given
// version: the group's number, and the last group known durable when the
// record was written (for versions 1 and 2, which do not record it, gen-1:
// every group before it, which makes any valid record after a bad one
// damage, as those versions always read it).
func splitGen(field uint64, version uint32) (gen, durable uint64) {
	if version < logV3 {
		return field, max(field, 1) - 1
	}
	gen, lag := field&maxGen, field>>48
	if lag == 0 && version >= logV4 {
		return gen, gen // a proof (version 4 on): the log was durable up to gen
	}
	if lag == 0 || lag >= lagUnknown || lag > gen {
		return gen, 0
	}
	return gen, gen - lag
}

// appendRecord encodes one group's mutations as a log record of this
// version chained to seed (durable: the last group known durable, below
// gen; gen itself for a proof, with no muts); it returns the record's
// crc, the next record's seed.
func appendRecord(b []byte, id uint64, seed uint32, gen, durable uint64, muts []Mutation) ([]byte, uint32) {
	start := len(b)
	b = append(b, make([]byte, recHeader)...)
	b = appendMuts(b, muts)
	n := len(b) - start - recHeader
	b = append(b, make([]byte, align8(n)-n)...)
	return b, sealRecord(b[start:], n, id, seed, genField(gen, durable))
}

// sealRecord writes the header of the record rec (its header's room,
// then a body of n bytes and its padding): the body's crc from seed (the
// record's crc, which it returns: the next record's seed), the gen field,
// and the header's own crc.
func sealRecord(rec []byte, n int, id uint64, seed uint32, field uint64) uint32 {
	h := rec[:recHeader]
	crc := crc32.Update(seed, crcTable, rec[recHeader:])
	binary.BigEndian.PutUint32(h, uint32(n))
	binary.BigEndian.PutUint64(h[8:], field)
	binary.BigEndian.PutUint32(h[16:], seed)
	binary.BigEndian.PutUint32(h[20:], crc)
	binary.BigEndian.PutUint32(h[4:], recordHCRC(id, h))
	return crc
}

func appendMuts(b []byte, muts []Mutation) []byte {
	b = binary.AppendUvarint(b, uint64(len(muts)))
	for i := range muts {
		m := &muts[i]
		b = append(b, byte(m.Op))
		b = binary.AppendUvarint(b, uint64(len(m.Path)))
		for _, name := range m.Path {
			b = appendBytes(b, name)
		}
		b = appendBytes(b, m.Key)
		b = appendBytes(b, m.Val)
		b = binary.AppendUvarint(b, m.Seq)
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

// Group is one logged group: its changes, and (for pruning the overlay)
// the overlay keys it set.
type Group struct {
	Gen  uint64
	Muts []Mutation
	Keys [][]byte
	Size int // bytes in the log
	// LogID is the identity of the log that holds the group (0: a log of
	// the format before the header); Mark.Replay records it with the mark.
	LogID uint64
}

// logRecord is a record that checks on its own (header and body crcs).
type logRecord struct {
	off     int
	size    int // header, body and padding
	gen     uint64
	durable uint64 // the last group known durable when it was written
	// proof: a record with no changes that says the log was durable up
	// to gen, the group of the record before it (version 4, lag 0).
	proof     bool
	seed, crc uint32
	body      []byte
}

// parseRecord reads the record at off of a log of the given version if it
// checks on its own: its header crc (which covers the log's identity, so a
// record of another log never passes) and its body crc from its own seed.
// Whether it follows the record before it (seed and gen) is the caller's
// question.
func parseRecord(data []byte, off int, id uint64, version uint32) (logRecord, bool) {
	if off < 0 || len(data)-off < recHeader {
		return logRecord{}, false
	}
	h := data[off : off+recHeader]
	n := int(binary.BigEndian.Uint32(h))
	if n == 0 || binary.BigEndian.Uint32(h[4:]) != recordHCRC(id, h) {
		return logRecord{}, false
	}
	size := recHeader + align8(n)
	if size > len(data)-off {
		return logRecord{}, false
	}
	r := logRecord{off: off, size: size, seed: binary.BigEndian.Uint32(h[16:]), crc: binary.BigEndian.Uint32(h[20:])}
	field := binary.BigEndian.Uint64(h[8:])
	r.gen, r.durable = splitGen(field, version)
	r.proof = version >= logV4 && field>>48 == 0
	if crc32.Update(r.seed, crcTable, data[off+recHeader:off+size]) != r.crc {
		return logRecord{}, false
	}
	r.body = data[off+recHeader : off+recHeader+n]
	return r, true
}

// anyRecord tells whether a record of this format, of one of the log
// identities ids (zero: none), checks on its own anywhere past the log's
// header (a damaged header's log: its first records may be damaged too).
func anyRecord(data []byte, ids ...uint64) bool {
	for _, id := range ids {
		if id == 0 {
			continue
		}
		for p := logHeader; p+recHeader <= len(data); p += 8 {
			if _, ok := parseRecord(data, p, id, logVersion); ok {
				return true
			}
		}
	}
	return false
}

// ReadLog returns the groups logged after gen applied, in order. A missing
// file holds none. A torn tail (a bad record after which no valid record
// follows, or only records written before it was durable: a power cut's)
// is dropped: it was never acknowledged. Damage with a valid record after
// it written once it was durable is ErrCorrupt, and so is a log that
// skips groups.
func ReadLog(path string, applied uint64) ([]Group, error) {
	return ReadLogOf(path, applied, LogBinding{})
}

// ReadLogOf is ReadLog for a file bound to its log (Mark.Binding; zero:
// not checked): see ScanLogOf.
func ReadLogOf(path string, applied uint64, bind LogBinding) ([]Group, error) {
	sc, err := ScanLogOf(path, applied, bind)
	if err != nil {
		return nil, err
	}
	if sc.Damage != nil {
		return nil, sc.Damage.Err(path)
	}
	return sc.Groups, nil
}

// ScanLog reads the log at path. It returns an error only when the file
// cannot be read or holds groups out of order; damage is in the result, for
// recovery to act on.
func ScanLog(path string, applied uint64) (*LogScan, error) {
	return ScanLogOf(path, applied, LogBinding{})
}

// ScanLogOf is ScanLog for a file bound to its log (Mark.Binding; zero:
// not checked). A log that holds anything after its header is damage at
// offset 0 when the binding, written with the mark as it is now, names
// another log (it is another store's log, swapped or copied beside the
// wrong file, or an earlier log of this store: its groups would write
// another history into this one), or when it names this log but with
// another mark (a damaged mark: raised, Open would skip the groups in
// between). A store binds every log it creates before it appends to it
// (Mark.Bind), so its own log never differs unless a crash came between
// the two, and then the log holds its header only. A binding written with
// a lower mark and naming a log of version 1 is not checked: a build that
// does not bind its log may have written the mark (and that log) since.
// Any other is (a later version is made only by builds that bind; a
// higher mark is one lowered by damage: no build moves a mark back).
// With no whole binding (Mark.Identity), the log is checked against the
// file's live mark instead (a log of another identity is damage at
// offset 0), and a damaged binding with no live mark refuses a log that
// holds groups past the mark (unverifiedDamage): nothing then says the
// log is this store's.
func ScanLogOf(path string, applied uint64, bind LogBinding) (*LogScan, error) {
	data, err := readLogFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &LogScan{}, nil
	}
	if d := noLogFileDamage(err); d != nil {
		return &LogScan{Damage: d}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ckpt: read write-ahead log: %w", err)
	}
	sc, err := scanLog(path, data, applied, bind)
	// A log with damage in it too: the groups recovery would keep are no
	// more this store's than a whole log's.
	if err == nil && (sc.Damage == nil || !sc.Damage.Foreign) && !sc.Legacy {
		if d := unverifiedDamage(data, sc.Groups, bind); d != nil {
			return &LogScan{Damage: d}, nil
		}
	}
	return sc, err
}
