package engine

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestKeyOrderAgreesWithBbolt: the key order check passes a sound file
// (nested, inline and overflowing buckets, branch pages), and on the same
// file with one byte of one key changed it reports damage exactly when
// bbolt's own page check reports keys out of order (Tx.Check walks the
// same keys by the same rules as the free list's rebuild; on this file,
// whose free list is written, it needs no rebuild). Changes the structural
// check refuses (a branch key that is not its child's first key) are left
// out: bbolt is never handed those. Its refusal of keys out of order
// within a page (checkKeyOrder) is compared with bbolt's as keyOrder's is.
func TestKeyOrderAgreesWithBbolt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "order.db")
	data := buildSweepFile(t, path)
	c, m := openCheck(t, path)
	if err := c.check(m); err != nil {
		t.Fatalf("sound file: %v", err)
	}
	if err := c.keyOrder(m.root); err != nil {
		t.Fatalf("sound file: key order: %v", err)
	}
	offs := keyByteOffsets(data, int(c.ps))
	if len(offs) < 1000 {
		t.Fatalf("only %d key bytes in the file", len(offs))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	changes := 300
	if raceEnabled {
		changes = 60 // each change reads the file twice, slowly under -race
	}
	compared, disordered := 0, 0
	for range changes {
		off := offs[rng.IntN(len(offs))]
		b := data[off] ^ byte(1+rng.IntN(255))
		if _, err := f.WriteAt([]byte{b}, int64(off)); err != nil {
			t.Fatal(err)
		}
		c, m := openCheck(t, path)
		// The page check itself refuses keys out of order within a page
		// (checkKeyOrder): that refusal is compared too.
		if ours := c.check(m); ours == nil || strings.Contains(ours.Error(), "its keys are out of order") {
			compared++
			if ours == nil {
				ours = c.keyOrder(m.root)
			}
			theirs := bboltOrderError(t, path)
			if theirs != "" {
				disordered++
			}
			if (ours != nil) != (theirs != "") {
				t.Errorf("byte %d set to %#x: key order check %v, bbolt's page check %q", off, b, ours, theirs)
			}
		}
		if _, err := f.WriteAt(data[off:off+1], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	if compared < changes/2 || disordered == 0 {
		t.Fatalf("%d changes compared, %d of them out of order: the test compares too little", compared, disordered)
	}
	t.Logf("%d changes compared, %d out of order", compared, disordered)
}

// bboltOrderError runs bbolt's page check on the file at path (its free
// list written) and returns its first report of keys out of order, or "".
func bboltOrderError(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	first := ""
	err = db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if first == "" && strings.Contains(err.Error(), "needs to be") {
				first = err.Error()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// keyByteOffsets returns the offset in data (a bbolt file of page size ps)
// of every byte of every key of its branch and leaf pages, read in file
// order (a page's overflow skipped).
func keyByteOffsets(data []byte, ps int) []int {
	var offs []int
	for id := 2; (id+1)*ps <= len(data); {
		p := data[id*ps:]
		flags, count := binary.LittleEndian.Uint16(p[8:]), int(binary.LittleEndian.Uint16(p[10:]))
		overflow := int(binary.LittleEndian.Uint32(p[12:]))
		for i := range count {
			if flags != branchPageFlag && flags != leafPageFlag {
				break
			}
			at := pageHeaderSize + i*elemSize
			e := p[at:]
			var pos, ksize int
			if flags == branchPageFlag {
				pos, ksize = int(binary.LittleEndian.Uint32(e[0:])), int(binary.LittleEndian.Uint32(e[4:]))
			} else {
				pos, ksize = int(binary.LittleEndian.Uint32(e[4:])), int(binary.LittleEndian.Uint32(e[8:]))
			}
			for k := range ksize {
				offs = append(offs, id*ps+at+pos+k)
			}
		}
		id += 1 + overflow
	}
	return offs
}
