//go:build unix

package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// Seed 5 (h32, plain round 7): recover of a file with a damaged meta page
// and a damaged leaf page (keys out of order) rewrote the meta page from
// the other one, then found the leaf page damaged and exited 1 saying
// "nothing was written to the file". The file was one transaction back
// from then on, where it says its log is live: every command then refused
// it for a missing log, where before a read-only open read it (and verify
// listed the damage). A recover that refuses a damaged file must leave it
// as it was, byte for byte.
func TestH32RecoverOfADamagedMetaAndPageWritesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h31SmallOf(t, dir, "a", "b", "c", "d", "e")
	path := filepath.Join(dir, "f.db")
	h31EditKeys(t, path, []byte("b"), []byte("x"))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The newer meta page (its transaction id at byte 64) gets a flipped
	// byte in its checksummed part.
	ps := h31PageSize(b)
	newer := 0
	if binary.LittleEndian.Uint64(b[ps+64:]) > binary.LittleEndian.Uint64(b[64:]) {
		newer = 1
	}
	b[newer*ps+18] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	before := h31Exec(t, dir, "verify", "f.db")
	if before.code != 1 {
		t.Fatalf("verify of the damaged file:\n%s", before)
	}
	h31FailsOnDamage(t, h31Exec(t, dir, "recover", "f.db"))
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, b) {
		v := h31Exec(t, dir, "verify", "f.db")
		t.Fatalf("recover failed and changed the file; verify before:\n%s\nverify after:\n%s", before, v)
	}
}
