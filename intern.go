package ckpt

// Shared boxes for the short scalars metadata repeats.
//
// A decoded metadata value is an `any`, and putting a string (or an
// integer above 255) into an `any` is an allocation of its own: W1's
// metadata ({source: "loop", step, node, route, reason, run_id}) cost five
// per checkpoint, half of what a List page spent decoding (issue 18,
// bench/RESULTS.md). The same few values come back in every record, so the
// decoder looks each short scalar up here by its exact msgpack bytes (type
// code included: the string "1" and the integer 1 never meet) and shares
// the box it finds. A box holds an immutable string or number, so sharing
// one between tuples, stores and goroutines changes nothing a caller can
// see, and a hit needs the stored bytes to be equal to the looked-up ones,
// so it can never give another value. The table is small and fixed
// (internSlots slots, one entry each), so it costs at most a few tens of
// KiB whatever the store holds. A value may sit in either slot of its pair
// (the newest in the first): with one slot a value, two values a List page
// repeats met in one slot in about one process of five (the hash's seed
// is random), and took turns evicting each other, an allocation each time
// (a filtered List of 10 at 152 allocations instead of 146); meeting takes
// three in a pair now.

import (
	"hash/maphash"
	"sync/atomic"
)

const (
	internSlots  = 1024 // a power of two
	internMaxLen = 40   // longest encoding shared: ids and names, not texts
)

type internEntry struct {
	enc string // the msgpack encoding of the value
	box any
}

var (
	internSeed  = maphash.MakeSeed()
	internTable [internSlots]atomic.Pointer[internEntry]
)

// internedString returns the shared box of the string whose msgpack
// encoding is enc (its payload from byte hdr on); ok is false when enc is
// too long to share.
func internedString(enc []byte, hdr int) (box any, ok bool) {
	if len(enc) > internMaxLen {
		return nil, false
	}
	a, b := internPair(enc)
	if e := internFind(a, b, enc); e != nil {
		return e.box, true
	}
	e := &internEntry{enc: string(enc)}
	e.box = e.enc[hdr:]
	internPut(a, b, e)
	return e.box, true
}

// internedInt returns the shared box of v, whose msgpack encoding is enc.
func internedInt(enc []byte, v int64) any {
	a, b := internPair(enc)
	if e := internFind(a, b, enc); e != nil {
		return e.box
	}
	e := &internEntry{enc: string(enc), box: v}
	internPut(a, b, e)
	return e.box
}

// internPair returns the two slots enc may sit in.
func internPair(enc []byte) (a, b *atomic.Pointer[internEntry]) {
	i := maphash.Bytes(internSeed, enc) & (internSlots - 1)
	return &internTable[i], &internTable[i^1]
}

// internFind returns the entry of enc in a or b, or nil.
func internFind(a, b *atomic.Pointer[internEntry], enc []byte) *internEntry {
	if e := a.Load(); e != nil && e.enc == string(enc) {
		return e
	}
	if e := b.Load(); e != nil && e.enc == string(enc) {
		return e
	}
	return nil
}

// internPut puts e first in its pair and moves the first one second. Two
// goroutines putting at once may lose an entry or keep one twice; a
// lookup still needs equal bytes, so it never gives another value.
func internPut(a, b *atomic.Pointer[internEntry], e *internEntry) {
	if old := a.Swap(e); old != nil {
		b.Store(old)
	}
}
