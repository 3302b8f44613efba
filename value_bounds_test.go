package ckpt

// bbolt takes a value's length from its leaf element and trusts it: a
// damaged length makes the value a slice that reaches past its page and
// past the mapped file. A read-only Open does not check the pages (it
// reads what it can), and records of format 1 and 2 carry no checksum
// to refuse the bytes before they are used: reading such a file copied
// the value out, allocating for the length the element claims (h30-hang:
// a List of the format 2 store with one value length damaged to 2 GB
// allocated 2 to 2.6 GB before it faulted past the mapping).

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime/metrics"
	"testing"
)

func allocatedBytes() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func TestDamagedValueLengthIsCorruptNotHuge(t *testing.T) {
	ctx := context.Background() // not parallel: it measures the heap's allocations
	orig, err := os.ReadFile(filepath.Join("testdata", "format2", "store.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.LittleEndian.Uint32(orig[24:])) // the meta page's page size
	// Each leaf element whose value is a record (not an inline bucket)
	// of more than 100 bytes, its value length made 2 GB.
	damaged := 0
	for p := 2; (p+1)*ps <= len(orig); p++ {
		pg := orig[p*ps:]
		if binary.LittleEndian.Uint16(pg[8:]) != 0x02 {
			continue
		}
		for i := range int(binary.LittleEndian.Uint16(pg[10:])) {
			h := p*ps + 16 + 16*i
			if binary.LittleEndian.Uint32(orig[h:]) != 0 || binary.LittleEndian.Uint32(orig[h+12:]) <= 100 {
				continue
			}
			b := append([]byte(nil), orig...)
			binary.LittleEndian.PutUint32(b[h+12:], 0x7ff00000)
			path := filepath.Join(t.TempDir(), "s.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			before := allocatedBytes()
			var listErr error
			for _, err := range s.List(ctx, ListOptions{}) {
				if err != nil {
					listErr = err
					break
				}
			}
			allocated := allocatedBytes() - before
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if listErr == nil || !errors.Is(listErr, ErrCorrupt) {
				t.Errorf("element at %d: List = %v, want ErrCorrupt", h, listErr)
			}
			if allocated > 64<<20 {
				t.Errorf("element at %d: List allocated %d MB for a value whose length claims 2 GB", h, allocated>>20)
			}
			damaged++
		}
	}
	if damaged == 0 {
		t.Fatal("no value of more than 100 bytes found in the file's leaf pages")
	}
}
