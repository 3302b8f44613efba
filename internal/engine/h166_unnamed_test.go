package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// A file whose binding to its log is damaged and that has no live mark
// names no log: a log beside it holding groups past its mark may be
// another store's (copied beside it), and none of it is kept
// (unverifiedDamage). That check ran only on a log the scan found whole:
// with a damaged record in it, recovery kept the groups before the
// damage, another store's checkpoints put into this one; and with the
// damage one the scan passes over (a proof), all of them.
func TestAnUnnamedLogWithDamageKeepsNoGroup(t *testing.T) {
	t.Parallel()
	const id = 0x5eed
	unnamed := LogBinding{Damaged: true}
	for _, c := range []struct {
		name   string
		damage func(l heldLog)
	}{
		{"a record past the mark", func(l heldLog) { l.flip(5) }},
		{"a proof past the mark", func(l heldLog) { l.data[l.proof[4][1]-1] ^= 0x01 }},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := forgeHeldLog(id, nil, 1, 2, 3, 4, 5, 6)
			c.damage(l)
			sc := l.scan(t, 3, unnamed)
			if sc.Damage == nil && len(sc.Groups) == 0 {
				t.Fatal("the damage was not found")
			}
			if sc, err := ScanLogOf(writeTemp(t, l.data), 3, unnamed); err != nil || sc.Damage == nil || !sc.Damage.Unverified || len(sc.Groups) != 0 {
				t.Fatalf("ScanLogOf = %+v (%v), damage %+v: want the log refused as unverified, no group kept", sc, err, sc.Damage)
			}
		})
	}
}

// writeTemp writes data to a file of its own and returns its path.
func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x-wal")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
