package engine

import (
	"encoding/binary"
	"hash/crc32"
)

// What the root package's tests need to write logs by hand (damaged,
// skipping, or of the old format). Nothing else uses these.

// HeaderSize is the length of a log's header: an empty log's Offset.
const HeaderSize = logHeader

// AppendRecordForTest encodes one group's record chained to seed, as
// Append does, and returns the next record's seed.
func AppendRecordForTest(b []byte, id uint64, seed uint32, gen uint64, muts []Mutation) ([]byte, uint32) {
	return appendRecord(b, id, seed, gen, muts)
}

// LegacyRecordForTest encodes a record of the format before the log had a
// header: len u32 | crc32c(body) u32 | gen u64 | muts.
func LegacyRecordForTest(b []byte, gen uint64, muts []Mutation) []byte {
	body := binary.BigEndian.AppendUint64(nil, gen)
	body = appendMuts(body, muts)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, crcTable))
	return append(b, body...)
}

// PanicErrorForTest is the error Guard makes of a recovered panic p.
func PanicErrorForTest(what string, p any) error { return panicError(what, p) }
