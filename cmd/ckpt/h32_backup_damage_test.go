//go:build unix

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Seed 32 (h32, plain round 1): backup of a file with a damaged record
// (a value's checksum fails) copied it over DST, verified the copy, found
// the damage and exited 1 with "backup: the copy bk.db has 1 problem(s)":
// a line that does not say the file is damaged (nor wraps ErrCorrupt),
// and DST, which held an earlier whole backup, now holds the damaged
// copy. A backup whose copy fails its check must leave DST as it was.
func TestH32BackupOfADamagedFileLeavesDST(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h31Small(t, dir)
	// An earlier backup of the intact file.
	if r := h31Exec(t, dir, "backup", "f.db", "bk.db"); r.code != 0 {
		t.Fatalf("backup of the intact file:\n%s", r)
	}
	earlier, err := os.ReadFile(filepath.Join(dir, "bk.db"))
	if err != nil {
		t.Fatal(err)
	}
	h31DamageNote5(t, dir, func(v []byte) { v[len(v)-1] ^= 0x01 })
	h31FailsOnDamage(t, h31Exec(t, dir, "backup", "f.db", "bk.db"))
	if now, err := os.ReadFile(filepath.Join(dir, "bk.db")); err != nil || !bytes.Equal(now, earlier) {
		t.Fatalf("a failed backup changed the earlier backup at DST (err %v)", err)
	}
	// To a new path: no DST, no temporary file left.
	h31FailsOnDamage(t, h31Exec(t, dir, "backup", "f.db", "new.db"))
	if left, _ := filepath.Glob(filepath.Join(dir, "new.db*")); len(left) > 0 {
		t.Fatalf("a failed backup left %v", left)
	}
}
