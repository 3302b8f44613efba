package engine

import (
	"encoding/binary"
	"hash/crc32"
)

// The log's format, for writing logs by hand: tests (this package's and
// the root's) forge damaged logs, logs that skip a group, and logs of the
// format before the header. A running engine uses none of this.

// HeaderSize is the length of a log's header: where its first record
// starts.
const HeaderSize = logHeader

// RecordHeaderSize is the length of a record's header; a log of version 2
// always extends at least this far past its last record.
const RecordHeaderSize = recHeader

// ForgeLogVersion rewrites the version of the log header at the start of
// log to v (version 1: what older builds wrote, with no promise on the
// file's tail; version 2: no lag in its records, wal.go), with the
// header's crc, and chains the records that followed it to the new crc
// (the chain's first record not whole ends it). Every record that checks
// on its own, in the chain or after it (an earlier pass over the file),
// gets its gen field in the form of version v (the same group; in version
// 3 the lag of a record written once every group before it was durable;
// version 4's proofs unpadded, one after a record).
func ForgeLogVersion(log []byte, v uint32) {
	id, seed := binary.BigEndian.Uint64(log[16:]), binary.BigEndian.Uint32(log[12:])
	from := binary.BigEndian.Uint32(log[8:])
	if from >= logV4 && v < from {
		shapeProofs(log, id, seed, from, v >= logV4)
	}
	binary.BigEndian.PutUint32(log[8:], v)
	next := headerCRC(log)
	binary.BigEndian.PutUint32(log[12:], next)
	field := func(r logRecord) uint64 {
		if v >= logV3 {
			return genField(r.gen, r.durable)
		}
		return r.gen
	}
	off := logHeader
	for {
		r, ok := parseRecord(log, off, id, from)
		if !ok || r.seed != seed {
			break
		}
		h := log[off : off+recHeader]
		binary.BigEndian.PutUint64(h[8:], field(r))
		binary.BigEndian.PutUint32(h[16:], next)
		next = crc32.Update(next, crcTable, log[off+recHeader:off+r.size])
		binary.BigEndian.PutUint32(h[20:], next)
		binary.BigEndian.PutUint32(h[4:], recordHCRC(id, h))
		seed, off = r.crc, off+r.size
	}
	for p := off; p+recHeader <= len(log); p += 8 {
		if r, ok := parseRecord(log, p, id, from); ok {
			h := log[p : p+recHeader]
			binary.BigEndian.PutUint64(h[8:], field(r))
			binary.BigEndian.PutUint32(h[4:], recordHCRC(id, h))
			p += r.size - 8
		}
	}
}

// shapeProofs rewrites the proofs in the chain of a log of version from
// (4 or 5; identity id, the header's crc seed) for an older version:
// versions 1 to 3 have none (keep false: each is taken out), version 4
// has no padded proof nor a second one (keep: the first of each run
// stays, unpadded). The records after move up, chained again, and zeros
// fill up to where the chain ended.
func shapeProofs(log []byte, id uint64, seed uint32, from uint32, keep bool) {
	off, to, next := logHeader, logHeader, seed
	lastProof := false
	for {
		r, ok := parseRecord(log, off, id, from)
		if !ok || r.seed != seed {
			break
		}
		if r.proof && keep && !lastProof {
			var b []byte
			b, next = appendProof(nil, id, next, r.gen, 1)
			copy(log[to:], b)
			to += len(b)
		}
		lastProof = r.proof
		if !r.proof {
			copy(log[to:], log[off:off+r.size])
			h := log[to : to+recHeader]
			binary.BigEndian.PutUint32(h[16:], next)
			next = crc32.Update(next, crcTable, log[to+recHeader:to+r.size])
			binary.BigEndian.PutUint32(h[20:], next)
			binary.BigEndian.PutUint32(h[4:], recordHCRC(id, h))
			to += r.size
		}
		seed, off = r.crc, off+r.size
	}
	clear(log[to:off])
}

// ForgeRecord encodes one group's record of the log with identity id,
// chained to seed, as Append does once every group before it is durable
// (its lag 1), and returns the next record's seed.
func ForgeRecord(b []byte, id uint64, seed uint32, gen uint64, muts []Mutation) ([]byte, uint32) {
	return appendRecord(b, id, seed, gen, gen-1, muts)
}

// ForgeLegacyRecord encodes a record of the format before the log had a
// header: len u32 | crc32c(body) u32 | gen u64 | muts.
func ForgeLegacyRecord(b []byte, gen uint64, muts []Mutation) []byte {
	body := binary.BigEndian.AppendUint64(nil, gen)
	body = appendMuts(body, muts)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, crcTable))
	return append(b, body...)
}

// RecordSpan is one record of a log's chain: where it starts and ends,
// its group, and whether it is a proof (no group of its own).
type RecordSpan struct {
	Off, End int64
	Gen      uint64
	Proof    bool
}

// RecordSpans returns the records of the chain of the log whose file's
// bytes are data, in order, up to the first that is not whole.
func RecordSpans(data []byte) []RecordSpan {
	var out []RecordSpan
	for _, r := range chainRecords(data) {
		out = append(out, RecordSpan{Off: int64(r.off), End: int64(r.off + r.size), Gen: r.gen, Proof: r.proof})
	}
	return out
}

// chainRecords returns the records of the chain of the log whose file's
// bytes are data (read as its header's version), in order, up to the
// first that is not whole.
func chainRecords(data []byte) []logRecord {
	if len(data) < logHeader {
		return nil
	}
	id, seed, version := binary.BigEndian.Uint64(data[16:]), binary.BigEndian.Uint32(data[12:]), binary.BigEndian.Uint32(data[8:])
	var out []logRecord
	for off := logHeader; ; {
		r, ok := parseRecord(data, off, id, version)
		if !ok || r.seed != seed {
			return out
		}
		out = append(out, r)
		off, seed = off+r.size, r.crc
	}
}
