package ckpt

// A reflection-free encoder for the generic shapes agent state is made of
// (map[string]any, []any, strings, numbers, bools, nil). It writes exactly
// the bytes msgpack's encoder writes with this package's settings (sorted
// map keys, compact integers), which a test checks on random values, and is
// several times faster: a growing `messages` list is encoded at every step.
// Any other type is handed to msgpack.

import (
	"encoding/binary"
	"math"
	"slices"
)

// appendFast appends the encoding of v to dst. ok is false when v (or
// something inside it) is not a shape it handles and msgpack must be used;
// dst is then unspecified.
func appendFast(dst []byte, v any) (_ []byte, ok bool) {
	switch x := v.(type) {
	case nil:
		return append(dst, 0xc0), true
	case bool:
		if x {
			return append(dst, 0xc3), true
		}
		return append(dst, 0xc2), true
	case string:
		return appendString(dst, x), true
	case int:
		return appendInt(dst, int64(x)), true
	case int64:
		return appendInt(dst, x), true
	case int32:
		return appendInt(dst, int64(x)), true
	case int16:
		return appendInt(dst, int64(x)), true
	case int8:
		return appendInt(dst, int64(x)), true
	case uint:
		return appendUint(dst, uint64(x)), true
	case uint64:
		return appendUint(dst, x), true
	case uint32:
		return appendUint(dst, uint64(x)), true
	case uint16:
		return appendUint(dst, uint64(x)), true
	case uint8:
		return appendUint(dst, uint64(x)), true
	case float64:
		return binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(x)), true
	case float32:
		return binary.BigEndian.AppendUint32(append(dst, 0xca), math.Float32bits(x)), true
	case Raw:
		return append(dst, x...), true
	case []any:
		if x == nil {
			return append(dst, 0xc0), true
		}
		dst = appendListHeader(dst, len(x))
		for _, e := range x {
			if dst, ok = appendFast(dst, e); !ok {
				return dst, false
			}
		}
		return dst, true
	case []string:
		if x == nil {
			return append(dst, 0xc0), true
		}
		dst = appendListHeader(dst, len(x))
		for _, e := range x {
			dst = appendString(dst, e)
		}
		return dst, true
	case map[string]any:
		if x == nil {
			return append(dst, 0xc0), true
		}
		dst = appendMapHeader(dst, len(x))
		var small [8]string // most state maps are small: sort on the stack
		for _, k := range sortedKeys(small[:0], x) {
			dst = appendString(dst, k)
			if dst, ok = appendFast(dst, x[k]); !ok {
				return dst, false
			}
		}
		return dst, true
	case map[string]string:
		if x == nil {
			return append(dst, 0xc0), true
		}
		dst = appendMapHeader(dst, len(x))
		var small [8]string
		for _, k := range sortedKeys(small[:0], x) {
			dst = appendString(appendString(dst, k), x[k])
		}
		return dst, true
	}
	return dst, false
}

func sortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func appendString(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 256:
		dst = append(dst, 0xd9, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, 0xda), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, 0xdb), uint32(n))
	}
	return append(dst, s...)
}

func appendMapHeader(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, 0x80|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xde), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(dst, 0xdf), uint32(n))
	}
}

// appendUint and appendInt mirror msgpack's compact integer encoding.
func appendUint(dst []byte, n uint64) []byte {
	switch {
	case n <= math.MaxInt8:
		return append(dst, byte(n))
	case n <= math.MaxUint8:
		return append(dst, 0xcc, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, 0xcd), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, 0xce), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 0xcf), n)
	}
}

func appendInt(dst []byte, n int64) []byte {
	switch {
	case n >= 0:
		return appendUint(dst, uint64(n))
	case n >= -32:
		return append(dst, byte(n))
	case n >= math.MinInt8:
		return append(dst, 0xd0, byte(n))
	case n >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, 0xd1), uint16(n))
	case n >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, 0xd2), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 0xd3), uint64(n))
	}
}
