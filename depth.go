package ckpt

// A bound on how deeply maps and lists nest in msgpack the store decodes.
//
// Every decoder of msgpack here recurses once per level of nesting: the
// fast decoder (fastdec.go) and msgpack's own decoder, whose Decode and
// Skip take no depth limit (msgpack/v5 has no option for one). A record
// with a valid checksum can still hold maps and lists nested millions deep
// (a forged file or log, a dump line): ~30 MiB of 0x91 bytes is 30 million
// levels, and recursing that deep exceeds the goroutine stack's 1 GB limit.
// A Go stack overflow is a fatal error, not a panic: no recover catches
// it, and the process died because of the file. So the fast decoder counts
// its depth and declines past maxDepth, and every call into msgpack's
// decoder on stored or imported bytes is preceded by tooDeep, a scan that
// keeps its own stack of counts instead of recursing. Too deep is
// ErrCorrupt on a read (the caller names thread, checkpoint, channel), an
// import error for a dump line, and ErrEncode on a write, so that the
// store never acknowledges a value it would refuse to read back.

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// maxDepth is the deepest nesting of maps and lists a stored value may
// have: 10,000, as encoding/json allows. Real agent state nests a few
// levels (a list of messages, each a map, holding a list of tool calls,
// each a map of arguments); even generated trees rarely pass a hundred,
// and Python's own recursion limit (1,000) stops most producers earlier.
// At 10,000 levels the recursive decoders need a few MiB of stack, far
// from the 1 GB limit, and a 10,000-level value still costs only 10 kB.
const maxDepth = 10000

// errTooDeep is the cause of a value refused for its nesting. Callers wrap
// it in ErrCorrupt (reads), ErrDump (imports) or ErrEncode (writes).
var errTooDeep = fmt.Errorf("maps and lists nested deeper than %d", maxDepth)

// tooDeep reports whether the msgpack value b nests maps and lists deeper
// than maxDepth. It judges only the depth: bytes that are not msgpack
// (truncated, an unknown code) are not too deep, and the decoder that
// follows reports them as it always has.
func tooDeep(b []byte) bool { return nestsTooDeep(b, false) }

// tooDeepItems is tooDeep for a run of values one after another (the
// items of a list segment, delta.go).
func tooDeepItems(b []byte) bool { return nestsTooDeep(b, true) }

// nestsTooDeep walks b without recursion: left counts the items still to
// read in the innermost open map or list, stack those of the ones around
// it, so the depth is len(stack). The walk reads every header once and
// jumps over strings and numbers: linear in len(b), no allocation unless
// the nesting passes 32 levels.
func nestsTooDeep(b []byte, many bool) bool {
	if len(b) <= maxDepth {
		return false // every level takes at least one byte
	}
	var room [32]uint64
	stack := room[:0]
	left := uint64(1)
	for i := 0; ; {
		for left == 0 {
			if len(stack) == 0 {
				if !many || i >= len(b) {
					return false
				}
				left = 1
				break
			}
			left, stack = stack[len(stack)-1], stack[:len(stack)-1]
		}
		if i >= len(b) {
			return false
		}
		c := b[i]
		i++
		left--
		skip, items, _, nest, ok := mpHeader(b, &i, c) // mapkeys.go
		if !ok || skip > uint64(len(b)-i) {
			return false // truncated: the decoder says so
		}
		i += int(skip)
		if nest {
			if len(stack) >= maxDepth {
				return true // this map or list would be level maxDepth+1
			}
			if items > 0 {
				stack = append(stack, left)
				left = items
			}
		}
	}
}

// errMalformed is the cause of a value refused before decoding because a
// length in it runs past its end: a string, bin, ext, list or map claims
// more than is left (a damaged length field). Reads wrap it in ErrCorrupt.
var errMalformed = errors.New("a length in the value runs past its end")

// checkShape reports whether msgpack's Decoder may be handed b: nil,
// errTooDeep past maxDepth, or errMalformed. The Decoder sizes a list or
// map by its header before it reads an item (a typed slice by the full
// count: msgpack v5.4.1 ignores its own alloc limit there; a generic one
// up to a million items), and a bin by its length, so a flipped byte in a
// length cost up to gigabytes before the EOF. Every item takes at least
// one byte, so a length above the bytes left is damage, refused here
// without allocating. What allocates nothing is left to the Decoder,
// which reports it as it always has: an unknown code, a header or value
// cut short, bytes after the value (ignored).
func checkShape(b []byte) error { return walkShape(b, false) }

// walkShape walks b's headers without recursion (left counts the items
// still to read in the innermost open map or list, stack those of the
// ones around it). strict (wholeValue) refuses everything that is not
// exactly one value; otherwise (checkShape) only what would allocate.
func walkShape(b []byte, strict bool) error {
	var room [32]uint64
	stack := room[:0]
	left := uint64(1)
	for i := 0; ; {
		for left == 0 {
			if len(stack) == 0 {
				if strict && i != len(b) {
					return fmt.Errorf("%w: %d bytes after the value", errNotOneValue, len(b)-i)
				}
				return nil
			}
			left, stack = stack[len(stack)-1], stack[:len(stack)-1]
		}
		if i >= len(b) {
			if strict {
				return fmt.Errorf("%w: the bytes end where a value is due", errNotOneValue)
			}
			return nil // the Decoder says so
		}
		c := b[i]
		i++
		left--
		skip, items, _, nest, ok := mpHeader(b, &i, c) // mapkeys.go
		if !ok {
			if strict {
				return fmt.Errorf("%w: code 0x%02x at byte %d is no msgpack header, or is cut short", errNotOneValue, c, i-1)
			}
			// An unknown code or a header cut short: the Decoder stops
			// there, allocating nothing, and says which.
			return nil
		}
		if skip > uint64(len(b)-i) || items > uint64(len(b)-i) {
			if strict {
				return fmt.Errorf("%w: the item at byte %d runs past the end", errNotOneValue, i-1)
			}
			return errMalformed
		}
		i += int(skip)
		if nest { // as nestsTooDeep counts: an empty one at maxDepth+1 too
			if len(stack) >= maxDepth {
				return errTooDeep // this map or list would be level maxDepth+1
			}
			if items > 0 {
				stack = append(stack, left)
				left = items
			}
		}
	}
}

// mpLength reads a w-byte big-endian length at *i and moves past it.
func mpLength(b []byte, i *int, w int) (uint64, bool) {
	if len(b)-*i < w {
		return 0, false
	}
	p := b[*i : *i+w]
	*i += w
	switch w {
	case 1:
		return uint64(p[0]), true
	case 2:
		return uint64(binary.BigEndian.Uint16(p)), true
	}
	return uint64(binary.BigEndian.Uint32(p)), true
}

// errNotOneValue is the cause of a value a write refuses: its bytes (a
// Raw's, or what a type's own EncodeMsgpack wrote) are not exactly one
// whole msgpack value.
var errNotOneValue = errors.New("not exactly one whole msgpack value")

// wholeValue reports whether b is exactly one well-formed msgpack value,
// nested no deeper than maxDepth: what a Raw handed to a write must be,
// since it is stored as is (unlike checkShape, which leaves what
// allocates nothing to the Decoder, a write must refuse every byte a read
// would call damage). nil, errTooDeep, or errNotOneValue.
func wholeValue(b []byte) error { return walkShape(b, true) }
