//go:build unix

package main

import (
	"strings"
	"testing"
)

// ckpt backup of a damaged SRC said "`ckpt verify f.db` lists them too;
// the file is damaged: 'ckpt verify f.db' lists every damaged record": the
// command's own pointer, then the general one for damaged files.
func TestBackupOfADamagedFileNamesVerifyOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h31Small(t, dir)
	h31DamageNote5(t, dir, func(v []byte) { v[len(v)-1] ^= 0x01 })
	r := h31Exec(t, dir, "backup", "f.db", "bk.db")
	h31FailsOnDamage(t, r)
	if n := strings.Count(r.stderr, "ckpt verify"); n != 1 {
		t.Errorf("the message names ckpt verify %d times, want once:\n%s", n, r.stderr)
	}
}
