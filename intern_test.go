package ckpt

import (
	"hash/maphash"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// Two values whose hashes meet in one slot both stay shared: with one
// entry a slot they evicted each other, and every lookup of the one
// evicted boxed it again (a filtered List of 10 at 152 allocations instead
// of 146, in about one process of five: the seed is random).
func TestInternKeepsTwoValuesOfOneSlot(t *testing.T) {
	enc := func(v int64) []byte {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	slot := func(b []byte) uint64 { return maphash.Bytes(internSeed, b) & (internSlots - 1) }
	// Two integers above 255 (boxing one allocates) in one slot.
	x := int64(100000)
	xs := slot(enc(x))
	y := x + 1
	for slot(enc(y)) != xs {
		y++
	}
	ex, ey := enc(x), enc(y)
	allocs := testing.AllocsPerRun(100, func() {
		if internedInt(ex, x).(int64) != x || internedInt(ey, y).(int64) != y {
			t.Fatal("interned the wrong value")
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per lookup of two values of one slot, want 0 once both are in", allocs)
	}
}
