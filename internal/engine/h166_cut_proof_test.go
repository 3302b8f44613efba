package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A proof is written after its group's fsync and is not fsync'd itself
// (proof.go's vouch): a power cut right after a Sync write returned may
// take the proof after it. If a byte of the proof before that group's
// record is then flipped on the medium (that proof was durable: the
// group's own fsync wrote it), the scan read the group's record, written
// once the group before was durable (lag 1) and with nothing after it
// saying it was durable in turn, as a power cut's record after a lost
// proof, and dropped it with no refusal: the acknowledged Sync write was
// gone and Open said nothing (the store-level h166 flip hunt found it:
// "Open: 8 served, 10 durable"). The damage is in a proof, which holds no
// group; and a proof's bytes are known (its group, its seed, its padding
// to the block, all zeros but its header): one byte off that, the proof
// was whole on the disk (a power cut leaves a block, or a sector, as it
// was or as written, never one byte of it), so the chain goes on past it
// as if it were whole, as it did before the flip. A proof lost instead
// (zeros, or an earlier pass's bytes) is a power cut's during the next
// record's fsync: that record is dropped as before (it may be a failed
// group's whose erase failed too).
func TestAFlippedProofBeforeAnUnprovenRecordLosesNoGroup(t *testing.T) {
	t.Parallel()
	const id = 0x5eed
	for _, c := range []struct {
		name   string
		damage func(l heldLog)
	}{
		{"a bit of the proof flipped", func(l heldLog) { l.data[l.proof[4][1]-1] ^= 0x01 }},
		{"a bit of the proof's header flipped", func(l heldLog) { l.data[l.proof[4][0]+9] ^= 0x40 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Groups 1-5, each with its proof but the last: group 5's was
			// taken by a power cut after its Sync write returned.
			l := forgeLog(id, nil, false, 1, 2, 3, 4, 5)
			c.damage(l)
			for _, bind := range []LogBinding{{ID: id, Gen: 3}, {}} {
				sc := l.scan(t, 3, bind)
				if sc.Damage != nil || sc.Cut != nil || fmt.Sprint(gensOf(sc.Groups)) != "[4 5]" {
					t.Errorf("binding %+v: scan = groups %v, damage %+v, cut %+v: want groups 4-5 (the proof held no group), no damage, nothing cut",
						bind, gensOf(sc.Groups), sc.Damage, sc.Cut)
				}
			}
		})
	}
	t.Run("a real log's proof, padded to its block, flipped in its padding", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "x-wal")
		l, err := CreateLog(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		var proofAt int64
		for g := uint64(1); g <= 3; g++ {
			if _, err := l.Append(g, g-1, []Mutation{{Op: MutPut, Path: [][]byte{[]byte("b")}, Key: []byte("k"), Val: fmt.Appendf(nil, "v%d", g)}}); err != nil {
				t.Fatal(err)
			}
			if g == 3 {
				break // its proof taken by a power cut
			}
			proofAt = l.Offset()
			if err := l.AppendProof(g); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		at := proofAt + 100 // in the padding of group 2's first proof
		if at >= proofAt+proofAlign-proofSize || (at/proofAlign+1)*proofAlign-proofAt < 2*proofSize {
			t.Fatalf("group 2's proof at %d: want one padded past %d", proofAt, at)
		}
		data[at] ^= 0x08
		sc, err := scanLog(path, data, 0, LogBinding{})
		if err != nil {
			t.Fatal(err)
		}
		if sc.Damage != nil || sc.Cut != nil || fmt.Sprint(gensOf(sc.Groups)) != "[1 2 3]" {
			t.Errorf("scan = groups %v, damage %+v, cut %+v: want groups 1-3, no damage, nothing cut", gensOf(sc.Groups), sc.Damage, sc.Cut)
		}
	})
	t.Run("the proof lost (zeros): a power cut's, the record after it dropped as before", func(t *testing.T) {
		// Lost, not flipped: the power cut came during group 5's fsync
		// (had it come after, the proof was durable), so group 5 was
		// never acknowledged, and its record may be a failed group's
		// whose erase failed too: dropped, no refusal, as before.
		l := forgeLog(id, nil, false, 1, 2, 3, 4, 5)
		clear(l.data[l.proof[4][0]:l.proof[4][1]])
		sc := l.scan(t, 3, LogBinding{ID: id, Gen: 3})
		if sc.Damage != nil || sc.Cut == nil || fmt.Sprint(gensOf(sc.Groups)) != "[4]" {
			t.Errorf("scan = groups %v, damage %+v, cut %+v: want group 4, group 5 cut as a power cut's", gensOf(sc.Groups), sc.Damage, sc.Cut)
		}
	})
	t.Run("the record after it torn: a power cut's tail, dropped", func(t *testing.T) {
		l := forgeLog(id, nil, false, 1, 2, 3, 4, 5)
		l.data[l.proof[4][1]-1] ^= 0x01
		l.data[l.at[5][1]-8] ^= 0x01
		sc := l.scan(t, 3, LogBinding{ID: id, Gen: 3})
		if sc.Damage != nil || fmt.Sprint(gensOf(sc.Groups)) != "[4]" {
			t.Errorf("scan = groups %v, damage %+v: want group 4 and the rest dropped as a torn tail", gensOf(sc.Groups), sc.Damage)
		}
	})
	t.Run("a later group after it: not the next one, dropped", func(t *testing.T) {
		l := forgeLog(id, nil, false, 1, 2, 3, 4, 5, 6)
		l.data[l.proof[4][1]-1] ^= 0x01
		clear(l.data[l.at[5][0]:l.proof[5][1]]) // group 5 lost whole
		sc := l.scan(t, 3, LogBinding{ID: id, Gen: 3})
		if (sc.Damage == nil && sc.Cut == nil) || fmt.Sprint(gensOf(sc.Groups)) != "[4]" {
			t.Errorf("scan = groups %v, damage %+v, cut %+v: want group 4 only, group 6 refused or cut (it cannot go in without 5)", gensOf(sc.Groups), sc.Damage, sc.Cut)
		}
	})
}
