package engine

// The log format before the header (see wal.go): still read and replayed,
// so an upgrade after a crash loses nothing.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// readLegacyLog reads a log written before the header existed: records of
// len u32 | crc32c(body) u32 | body, body = gen u64 | muts, while each has a
// good checksum and the gen after the one before (a torn append, or an
// older record left after the log was rewound, ends the run). ok tells
// whether the file starts with such a record.
func readLegacyLog(path string, data []byte, applied uint64) (groups []Group, ok bool, err error) {
	var prev uint64
	for first := true; len(data) >= 8; first = false {
		n := uint64(binary.BigEndian.Uint32(data))
		if n < 8 || n > uint64(len(data)-8) {
			break
		}
		body := data[8 : 8+n]
		if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(data[4:]) {
			break
		}
		gen := binary.BigEndian.Uint64(body)
		muts, err := decodeMuts(body[8:])
		if err != nil || !first && gen != prev+1 {
			break
		}
		ok = true
		if gen > applied {
			if len(groups) == 0 && gen != applied+1 {
				return nil, true, fmt.Errorf("%w: write-ahead log %s starts at group %d, but the store holds groups up to %d only", ErrCorrupt, path, gen, applied)
			}
			groups = append(groups, Group{Gen: gen, Muts: muts, Size: 8 + int(n)})
		}
		prev = gen
		data = data[8+n:]
	}
	return groups, ok, nil
}
