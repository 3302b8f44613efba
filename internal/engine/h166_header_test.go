package engine

import (
	"fmt"
	"testing"
)

// A damaged header is put back (rebuiltHeader) only from what names the
// log and what its first record holds: with the file's binding, or its
// live mark, naming the log's identity and the first record whole, every
// group is kept (the damage still refused: Resumed); with nothing naming
// the log, or the first record damaged too, the scan refuses as before,
// keeping no group.
func TestADamagedHeaderIsPutBackOnlyFromWhatNamesTheLog(t *testing.T) {
	t.Parallel()
	const id = 0x5eed
	for _, c := range []struct {
		name  string
		bind  LogBinding
		first bool // the first record damaged too
		kept  bool
	}{
		{"bound", LogBinding{ID: id, Gen: 3}, false, true},
		{"the binding damaged, the live mark naming the log", LogBinding{Damaged: true, Live: id}, false, true},
		{"nothing naming the log", LogBinding{Damaged: true}, false, false},
		{"another log bound", LogBinding{ID: id + 1, Gen: 3}, false, false},
		{"the first record damaged too", LogBinding{ID: id, Gen: 3}, true, false},
	} {
		for _, at := range []int{3, 11, 14, 20} {
			t.Run(fmt.Sprintf("%s, byte %d", c.name, at), func(t *testing.T) {
				l := forgeHeldLog(id, nil, 1, 2, 3, 4, 5, 6)
				l.data[at] ^= 0x02
				if c.first {
					l.flip(1)
				}
				sc := l.scan(t, 3, c.bind)
				got := sc.Damage != nil && sc.Damage.Resumed && fmt.Sprint(gensOf(sc.Groups)) == "[4 5 6]"
				if got != c.kept || sc.Damage == nil {
					t.Fatalf("scan = %+v, damage %+v: want groups 4-6 kept %v, the damage refused", sc, sc.Damage, c.kept)
				}
			})
		}
	}
}
