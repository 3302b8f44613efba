//go:build unix

package main

import (
	"bytes"
	"path/filepath"
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
	key := append([]byte{0, 0, 0, 4}, "note0005"...)
	h31EditElems(t, filepath.Join(dir, "f.db"), func(k, v []byte) bool {
		if !bytes.Equal(k, key) || len(v) == 0 {
			return false
		}
		v[len(v)-1] ^= 0x01
		return true
	})
	r := h31Exec(t, dir, "backup", "f.db", "bk.db")
	h31FailsOnDamage(t, r)
	if n := strings.Count(r.stderr, "ckpt verify"); n != 1 {
		t.Errorf("the message names ckpt verify %d times, want once:\n%s", n, r.stderr)
	}
}
