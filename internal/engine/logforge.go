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

// ForgeRecord encodes one group's record of the log with identity id,
// chained to seed, as Append does, and returns the next record's seed.
func ForgeRecord(b []byte, id uint64, seed uint32, gen uint64, muts []Mutation) ([]byte, uint32) {
	return appendRecord(b, id, seed, gen, muts)
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
