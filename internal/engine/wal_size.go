package engine

// The size of a log record's body before it is encoded: the record's
// length field is a u32 (wal.go), so Append refuses a longer group
// instead of writing its length cut short.

import (
	"fmt"
	"math"
)

// maxRecordBody is the longest record body the u32 length field holds.
const maxRecordBody = math.MaxUint32

// mutsLen is the length of appendMuts' encoding of muts.
func mutsLen(muts []Mutation) uint64 {
	return uvarintLen(uint64(len(muts))) + mutsBytes(muts)
}

// mutsBytes is the length of muts' encoding without its count.
func mutsBytes(muts []Mutation) uint64 {
	var n uint64
	for i := range muts {
		m := &muts[i]
		n += 1 + uvarintLen(uint64(len(m.Path)))
		for _, name := range m.Path {
			n += bytesLen(name)
		}
		n += bytesLen(m.Key) + bytesLen(m.Val) + uvarintLen(m.Seq)
	}
	return n
}

// recordLimit is the longest record body the log takes: maxRecordBody,
// or less (Hooks.MaxRecordBody).
func recordLimit(hook uint64) uint64 {
	if hook == 0 || hook > maxRecordBody {
		return maxRecordBody
	}
	return hook
}

func bytesLen(v []byte) uint64 { return uvarintLen(uint64(len(v))) + uint64(len(v)) }

func uvarintLen(x uint64) uint64 {
	n := uint64(1)
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// errGroupTooLarge is an op whose changes alone pass the log's record
// limit: it fails alone, the store goes on.
func errGroupTooLarge(n, limit uint64) error {
	return fmt.Errorf("ckpt: write-ahead log: a write of %d bytes, over a record's limit of %d", n, limit)
}
