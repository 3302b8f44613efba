package engine

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestADamagedPaddedProofLosesNothing: the last group's first
// (padded) proof damaged anywhere: the group reads back, no error.
func TestADamagedPaddedProofLosesNothing(t *testing.T) {
	t.Parallel()
	for _, vlen := range []int{10, 300, 3990, 4000, 4030} {
		path := proofLog(t, func(l *Log) {
			for gen := uint64(1); gen <= 2; gen++ {
				m := Mutation{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte(fmt.Sprint("k", gen)), Val: []byte(strings.Repeat("v", vlen))}
				if _, err := l.Append(gen, gen-1, []Mutation{m}); err != nil {
					t.Fatal(err)
				}
				proofOf(t, l, gen)
			}
		})
		data, _ := os.ReadFile(path)
		recs := chainRecords(data)
		// The file as far as the chain and a block past it (the log grows
		// by 4 MiB of zeros, which each scan below would search).
		end := recs[len(recs)-1].off + recs[len(recs)-1].size
		data = data[:end+proofAlign]
		var p logRecord
		for i := len(recs) - 1; i > 0; i-- {
			if !recs[i].proof {
				p = recs[i+1]
				break
			}
		}
		for pos := p.off; pos < p.off+p.size; pos += 97 {
			img := bytes.Clone(data)
			img[pos] ^= 0x10
			sc, err := scanLog(path, img, 0, LogBinding{})
			if err != nil || sc.Damage != nil || len(sc.Groups) != 2 {
				t.Fatalf("value %d, byte %d of the first proof (%d-%d) flipped: %d groups, %v %+v", vlen, pos, p.off, p.off+p.size, len(sc.Groups), err, sc.Damage)
			}
		}
	}
}
