package ckpt

// Decoding without reflection for the records every read decodes: the
// checkpoint header, metadata and pending writes. msgpack's Decoder costs a
// bytes.Reader, a Decoder and reflection per record, and its allocations
// were a third of a GetTuple's (bench/RESULTS.md). The fast path reads the
// bytes in place and builds exactly what unmarshal followed by normalize
// builds; anything it does not know (an ext type, a map key that is not a
// string, a struct of another arity, a number where a string is due) makes
// it decline, and the caller decodes with msgpack as before, so the two
// can never disagree on what a record means. fastdec_test.go checks the
// agreement on generated and on mutated records.
//
// Everything returned is copied out of b: b may be a page of bbolt's map,
// which is reused after the read transaction ends. A record's strings are
// copied once together: the reader keeps the record's bytes as one string
// and hands out substrings of it, so a metadata record of six keys and
// five string values costs one string allocation, not eleven (a substring
// keeps the record's few hundred bytes alive, no more).

import (
	"encoding/binary"
	"math"

	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// mpReader reads msgpack from a byte slice. Its methods return ok=false
// for anything the fast path declines, including a short buffer.
type mpReader struct {
	b []byte
	i int
	s string // b as a string (or empty: each string is copied on its own)

	depth int // maps and lists open around the value being read
}

// enter opens a map or list: false past maxDepth (depth.go), where the
// fast path declines and the caller's fallback refuses the bytes, instead
// of recursing on (a forged record can nest millions deep).
func (r *mpReader) enter() bool {
	r.depth++
	return r.depth <= maxDepth
}

// text returns p, the bytes just read (ending at r.i), as a string: a
// substring of r.s when the reader has it.
func (r *mpReader) text(p []byte) string {
	if len(r.s) != len(r.b) || len(p) > r.i {
		return string(p)
	}
	return r.s[r.i-len(p) : r.i]
}

func (r *mpReader) code() (byte, bool) {
	if r.i >= len(r.b) {
		return 0, false
	}
	c := r.b[r.i]
	r.i++
	return c, true
}

// n reads an n-byte big-endian length or number.
func (r *mpReader) n(size int) (uint64, bool) {
	if len(r.b)-r.i < size {
		return 0, false
	}
	p := r.b[r.i : r.i+size]
	r.i += size
	switch size {
	case 1:
		return uint64(p[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), true
	case 4:
		return uint64(binary.BigEndian.Uint32(p)), true
	}
	return binary.BigEndian.Uint64(p), true
}

// take returns the next n bytes (not copied).
func (r *mpReader) take(n uint64) ([]byte, bool) {
	if uint64(len(r.b)-r.i) < n {
		return nil, false
	}
	p := r.b[r.i : r.i+int(n)]
	r.i += int(n)
	return p, true
}

// arrayLen reads an array header; -1 for nil.
func (r *mpReader) arrayLen() (int, bool) {
	c, ok := r.code()
	if !ok {
		return 0, false
	}
	return r.arrayLenOf(c)
}

// mapLen reads a map header; -1 for nil.
func (r *mpReader) mapLen() (int, bool) {
	c, ok := r.code()
	if !ok {
		return 0, false
	}
	return r.mapLenOf(c)
}

func (r *mpReader) arrayLenOf(c byte) (int, bool) {
	return r.lenOf(c, msgpcode.FixedArrayLow, msgpcode.FixedArrayHigh, msgpcode.Array16, msgpcode.Array32)
}

func (r *mpReader) mapLenOf(c byte) (int, bool) {
	return r.lenOf(c, msgpcode.FixedMapLow, msgpcode.FixedMapHigh, msgpcode.Map16, msgpcode.Map32)
}

// lenOf reads the length of a container whose code is c, given the codes
// of its kind: fixed ones (the length in the low bits), 16 and 32 bits.
func (r *mpReader) lenOf(c, fixLow, fixHigh, c16, c32 byte) (int, bool) {
	switch {
	case c == msgpcode.Nil:
		return -1, true
	case c >= fixLow && c <= fixHigh:
		return int(c - fixLow), true
	case c == c16:
		n, ok := r.n(2)
		return int(n), ok
	case c == c32:
		n, ok := r.n(4)
		return int(n), ok
	}
	return 0, false
}

// bytesOf reads the payload of a str or bin whose code is c; n is -1 for
// nil. msgpack decodes either into a string or a []byte.
func (r *mpReader) bytesOf(c byte) (p []byte, isNil, ok bool) {
	if isFixstr(c) {
		p, ok = r.fixstr(c)
		return p, false, ok
	}
	return r.bytesOfSlow(c)
}

// isFixstr reports whether c is the code of a fixstr, a string of up to
// 31 bytes: every key and most metadata values. Callers on the hot paths
// (map keys, metadata, the items a list cut or skip passes over) read one
// with fixstr, inlined, before they call bytesOf: the call was 6% of a
// filtered List's instructions (R4: 1,300 calls a List, 46 instructions
// each).
func isFixstr(c byte) bool { return c&0xe0 == msgpcode.FixedStrLow }

// fixstr reads the payload of a fixstr whose code is c.
func (r *mpReader) fixstr(c byte) ([]byte, bool) {
	n := int(c & msgpcode.FixedStrMask)
	if n > len(r.b)-r.i {
		return nil, false
	}
	p := r.b[r.i : r.i+n]
	r.i += n
	return p, true
}

func (r *mpReader) bytesOfSlow(c byte) (p []byte, isNil, ok bool) {
	var n uint64
	switch {
	case c == msgpcode.Nil:
		return nil, true, true
	case msgpcode.IsFixedString(c):
		n, ok = uint64(c&msgpcode.FixedStrMask), true
	case c == msgpcode.Str8 || c == msgpcode.Bin8:
		n, ok = r.n(1)
	case c == msgpcode.Str16 || c == msgpcode.Bin16:
		n, ok = r.n(2)
	case c == msgpcode.Str32 || c == msgpcode.Bin32:
		n, ok = r.n(4)
	default:
		return nil, false, false
	}
	if !ok {
		return nil, false, false
	}
	p, ok = r.take(n)
	return p, false, ok
}

func (r *mpReader) str() (string, bool) {
	c, ok := r.code()
	if !ok {
		return "", false
	}
	var p []byte
	if isFixstr(c) {
		p, ok = r.fixstr(c)
	} else {
		p, _, ok = r.bytesOf(c)
	}
	if !ok {
		return "", false
	}
	return r.text(p), true
}

// bytes reads a []byte field as msgpack does: nil stays nil, an empty
// one is empty and not nil, the rest is copied.
func (r *mpReader) bytes() ([]byte, bool) {
	c, ok := r.code()
	if !ok {
		return nil, false
	}
	p, isNil, ok := r.bytesOf(c)
	if !ok || isNil {
		return nil, ok
	}
	return append(make([]byte, 0, len(p)), p...), true
}

// int reads an integer field (declines floats and nil).
func (r *mpReader) int() (int64, bool) {
	c, ok := r.code()
	if !ok {
		return 0, false
	}
	switch {
	case msgpcode.IsFixedNum(c):
		return int64(int8(c)), true
	case c == msgpcode.Uint8, c == msgpcode.Int8:
		n, ok := r.n(1)
		if c == msgpcode.Int8 {
			return int64(int8(n)), ok
		}
		return int64(n), ok
	case c == msgpcode.Uint16, c == msgpcode.Int16:
		n, ok := r.n(2)
		if c == msgpcode.Int16 {
			return int64(int16(n)), ok
		}
		return int64(n), ok
	case c == msgpcode.Uint32, c == msgpcode.Int32:
		n, ok := r.n(4)
		if c == msgpcode.Int32 {
			return int64(int32(n)), ok
		}
		return int64(n), ok
	case c == msgpcode.Int64:
		n, ok := r.n(8)
		return int64(n), ok
	case c == msgpcode.Uint64:
		n, ok := r.n(8)
		return int64(n), ok && n <= math.MaxInt64
	}
	return 0, false
}

// stringMap reads a map[string]string field: nil is a nil map, an empty
// map is empty and not nil.
func (r *mpReader) stringMap() (map[string]string, bool) {
	n, ok := r.mapLen()
	if !ok || n < 0 {
		return nil, ok
	}
	if n > (len(r.b)-r.i)/2 { // every pair is at least two bytes
		return nil, false
	}
	m := make(map[string]string, n)
	for range n {
		k, ok := r.str()
		if !ok {
			return nil, false
		}
		v, ok := r.str()
		if !ok {
			return nil, false
		}
		m[k] = v
	}
	return m, true
}

// value reads any value as DecodeInterface then normalize would give it:
// integers as int64 (uint64 above MaxInt64), floats as float64, str as
// string, bin as []byte, arrays as []any, maps as map[string]any.
func (r *mpReader) value() (any, bool) {
	c, ok := r.code()
	if !ok {
		return nil, false
	}
	switch {
	case msgpcode.IsFixedNum(c):
		return int64(int8(c)), true
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		n, ok := r.mapLenOf(c)
		if !ok || !r.enter() {
			return nil, false
		}
		m, ok := r.anyMap(n)
		r.depth--
		return m, ok
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, ok := r.arrayLenOf(c)
		if !ok || n > len(r.b)-r.i || !r.enter() { // every element is at least a byte
			return nil, false
		}
		s := make([]any, n)
		for i := range s {
			if s[i], ok = r.value(); !ok {
				return nil, false
			}
		}
		r.depth--
		return s, true
	case msgpcode.IsFixedString(c), c == msgpcode.Str8, c == msgpcode.Str16, c == msgpcode.Str32:
		start := r.i - 1
		var p []byte
		if isFixstr(c) {
			p, ok = r.fixstr(c)
		} else {
			p, _, ok = r.bytesOf(c)
		}
		if !ok {
			return nil, false
		}
		if box, ok := internedString(r.b[start:r.i], r.i-start-len(p)); ok {
			return box, true // a shared box (intern.go)
		}
		return r.text(p), true
	case c == msgpcode.Bin8, c == msgpcode.Bin16, c == msgpcode.Bin32:
		p, _, ok := r.bytesOf(c)
		return append(make([]byte, 0, len(p)), p...), ok
	}
	switch c {
	case msgpcode.Nil:
		return nil, true
	case msgpcode.False:
		return false, true
	case msgpcode.True:
		return true, true
	case msgpcode.Float:
		n, ok := r.n(4)
		return float64(math.Float32frombits(uint32(n))), ok
	case msgpcode.Double:
		n, ok := r.n(8)
		return math.Float64frombits(n), ok
	case msgpcode.Uint8, msgpcode.Uint16, msgpcode.Uint32:
		r.i--
		start := r.i
		n, ok := r.int()
		return r.boxInt(start, n, ok)
	case msgpcode.Uint64:
		n, ok := r.n(8)
		if n > math.MaxInt64 {
			return n, ok
		}
		return int64(n), ok
	case msgpcode.Int8, msgpcode.Int16, msgpcode.Int32, msgpcode.Int64:
		r.i--
		start := r.i
		n, ok := r.int()
		return r.boxInt(start, n, ok)
	}
	return nil, false // ext types (time.Time, ...) and unknown codes
}

// boxInt boxes n, an integer whose encoding starts at start: a box of its
// own only for 0..255 (which the runtime boxes without allocating), a
// shared one (intern.go) otherwise.
func (r *mpReader) boxInt(start int, n int64, ok bool) (any, bool) {
	if !ok {
		return nil, false
	}
	if n >= 0 && n < 256 {
		return n, true
	}
	return internedInt(r.b[start:r.i], n), true
}

// anyMap reads the n pairs of a map[string]any.
func (r *mpReader) anyMap(n int) (map[string]any, bool) {
	if n > (len(r.b)-r.i)/2 { // every pair is at least two bytes
		return nil, false
	}
	m := make(map[string]any, n)
	for range n {
		k, ok := r.str()
		if !ok {
			return nil, false
		}
		if m[k], ok = r.value(); !ok {
			return nil, false
		}
	}
	return m, true
}

// skip passes over one value of any kind and returns its bytes.
func (r *mpReader) skip() ([]byte, bool) {
	start := r.i
	c, ok := r.code()
	if !ok {
		return nil, false
	}
	if r.skipShort(c) {
		return r.b[start:r.i], true
	}
	pairs := 0 // elements to skip after the header: 1 per array item, 2 per map pair
	nest := false
	switch {
	case msgpcode.IsFixedNum(c), c == msgpcode.Nil, c == msgpcode.False, c == msgpcode.True:
	case msgpcode.IsFixedMap(c), c == msgpcode.Map16, c == msgpcode.Map32:
		n, ok := r.mapLenOf(c)
		if !ok {
			return nil, false
		}
		pairs, nest = 2*n, true
	case msgpcode.IsFixedArray(c), c == msgpcode.Array16, c == msgpcode.Array32:
		n, ok := r.arrayLenOf(c)
		if !ok {
			return nil, false
		}
		pairs, nest = n, true
	case msgpcode.IsFixedString(c), c == msgpcode.Str8, c == msgpcode.Str16, c == msgpcode.Str32,
		c == msgpcode.Bin8, c == msgpcode.Bin16, c == msgpcode.Bin32:
		if _, _, ok := r.bytesOf(c); !ok {
			return nil, false
		}
	default:
		if !r.skipFixed(c) {
			return nil, false
		}
	}
	if pairs > len(r.b)-r.i {
		return nil, false
	}
	if nest {
		if !r.enter() {
			return nil, false
		}
		for range pairs {
			if r.i < len(r.b) {
				if r.i++; r.skipShort(r.b[r.i-1]) {
					continue // no call for a short scalar
				}
				r.i--
			}
			if _, ok := r.skip(); !ok {
				return nil, false
			}
		}
		r.depth--
	}
	return r.b[start:r.i], true
}

// skipShort passes over the payload of a value whose code c was just read
// when it is one of the short kinds most of a record is made of (a
// fixnum, nil, a bool, a fixstr), inlined; false (nothing read) for any
// other code, and for a fixstr longer than what is left, for skip's
// general path to decide. skip and check called themselves for each such
// item: 4% of a filtered List's instructions (R4), in the message items a
// list cut passes over and in the metadata values a filter does not name.
func (r *mpReader) skipShort(c byte) bool {
	switch {
	case c <= msgpcode.PosFixedNumHigh || c >= msgpcode.NegFixedNumLow,
		c == msgpcode.Nil, c == msgpcode.False, c == msgpcode.True:
		return true
	case isFixstr(c):
		n := int(c & msgpcode.FixedStrMask)
		if n > len(r.b)-r.i {
			return false
		}
		r.i += n
		return true
	}
	return false
}

// skipFixed passes over the payload of a number or an ext of code c.
func (r *mpReader) skipFixed(c byte) bool {
	size := -1
	switch c {
	case msgpcode.Uint8, msgpcode.Int8:
		size = 1
	case msgpcode.Uint16, msgpcode.Int16:
		size = 2
	case msgpcode.Uint32, msgpcode.Int32, msgpcode.Float:
		size = 4
	case msgpcode.Uint64, msgpcode.Int64, msgpcode.Double:
		size = 8
	case msgpcode.FixExt1:
		size = 1 + 1
	case msgpcode.FixExt2:
		size = 1 + 2
	case msgpcode.FixExt4:
		size = 1 + 4
	case msgpcode.FixExt8:
		size = 1 + 8
	case msgpcode.FixExt16:
		size = 1 + 16
	case msgpcode.Ext8, msgpcode.Ext16, msgpcode.Ext32:
		w := 1
		if c == msgpcode.Ext16 {
			w = 2
		} else if c == msgpcode.Ext32 {
			w = 4
		}
		n, ok := r.n(w)
		if !ok || n > math.MaxInt32 {
			return false
		}
		size = 1 + int(n)
	}
	if size < 0 {
		return false
	}
	_, ok := r.take(uint64(size))
	return ok
}

// done reports whether the whole buffer was read: trailing bytes make the
// fast path decline (msgpack would ignore them; a record has none).
func (r *mpReader) done() bool { return r.i == len(r.b) }
