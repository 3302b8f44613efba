package engine

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// h173Log forges the log beside an older copy of its store file: a first
// pass of groups 1-7, rewound once bbolt held them all, and a second pass
// of group 8 alone whose record has the very body of group 1's (the same
// write again: its crc, from the same header crc, is group 1's, so the
// first pass's records after it chain to it as they chained to group 1's).
// Each record but group 8's has its proof after it in versions 4 and 5 (the
// writer killed before group 8's proof).
func h173Log(id uint64, v uint32) []byte {
	var data []byte
	for i, gens := range [][]uint64{{1, 2, 3, 4, 5, 6, 7}, {8}} {
		h, _ := appendLogHeader(nil, id)
		binary.BigEndian.PutUint32(h[8:], v)
		seed := headerCRC(h)
		binary.BigEndian.PutUint32(h[12:], seed)
		b := h
		for j, g := range gens {
			off := len(b)
			val := fmt.Appendf(nil, "pass %d group %d", i, g)
			if j == 0 {
				val = []byte("the same first write of each pass")
			}
			b, seed = appendRecord(b, id, seed, g, g-1, []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")},
				Key: []byte("k"), Val: val}})
			if v < logV3 {
				rh := b[off : off+recHeader]
				binary.BigEndian.PutUint64(rh[8:], g)
				binary.BigEndian.PutUint32(rh[4:], recordHCRC(id, rh))
			}
			if v >= logV4 && i == 0 {
				b, seed = appendProof(b, id, seed, g, 1)
			}
		}
		if len(data) > len(b) {
			b = append(b, data[len(b):]...)
		}
		data = b
	}
	return append(data, make([]byte, 4*recHeader)...)
}

// TestAFlipInASecondPassFirstWriteOfTheSameBodyLosesItsGroupAloud: an
// older copy of the store file (mark 5, bound to its log at 5) put back
// beside its log, rewound since at 7, whose new pass holds group 8 alone,
// written with the body of the earlier pass's first record, and one bit
// of that record's header flipped. Group 8 is lost with the damage (no
// other copy of it is left), so the scan must not say nothing was lost
// (Resumed), and must keep no group of the earlier pass: its groups 6-7
// chain on the damaged record by crc (the same body from the same seed
// gives the same crc), but they are not the pass the damaged record
// began.
//
// It failed on 3e000ec: chainsOn took the earlier pass's proof of group
// 1 (versions 4-5) or its record of group 2 (versions 1-3) as the
// damaged record's next, and the scan resumed at the earlier pass's
// group 6, keeping 6-7 and saying nothing was lost, group 8 gone.
func TestAFlipInASecondPassFirstWriteOfTheSameBodyLosesItsGroupAloud(t *testing.T) {
	t.Parallel()
	const id = 0x5eed
	bind := LogBinding{ID: id, Gen: 5}
	for v := uint32(logV1); v <= logVersion; v++ {
		data := h173Log(id, v)
		r, ok := parseRecord(data, logHeader, id, v)
		if !ok || r.gen != 8 {
			t.Fatalf("version %d: the first record is %+v, %v: want group 8", v, r, ok)
		}
		if base, err := scanLog("x-wal", data, 5, bind); err != nil || base.Damage == nil || base.Damage.Resumed || len(base.Groups) != 0 {
			t.Fatalf("version %d: the log unflipped scans as groups %v, damage %+v, %v: want it refused, keeping nothing",
				v, gensOf(base.Groups), base.Damage, err)
		}
		fails := 0
		for at := logHeader; at < logHeader+recHeader; at++ {
			for _, mask := range []byte{0x01, 0x10, 0x80} {
				bad := bytes.Clone(data)
				bad[at] ^= mask
				sc, err := scanLog("x-wal", bad, 5, bind)
				switch {
				case err != nil:
					t.Errorf("version %d, byte %d ^%#x: %v", v, at, mask, err)
				case sc.Damage == nil || sc.Damage.Resumed || len(sc.Groups) != 0:
					if fails++; fails <= 3 {
						t.Errorf("version %d, byte %d ^%#x: scan = groups %v, damage %+v: group 8 is lost with the damage, "+
							"and the groups kept are the earlier pass's", v, at, mask, gensOf(sc.Groups), sc.Damage)
					}
				}
			}
		}
		if fails > 3 {
			t.Errorf("version %d: %d flips in all", v, fails)
		}
	}
}
