package ckpt

// Metadata is read back as map[string]any, and so is every map inside it
// (decodeMetadataBody: msgpack decodes a map into an any as
// map[string]any). msgpack encodes a Go map with keys of any type, so a
// map[int]string in metadata was acknowledged by Put and then made every
// read of its checkpoint, a List of its thread and Verify fail as if the
// record were damaged (ErrCorrupt). Put refuses such metadata instead
// (ErrEncode), after a walk of the encoded bytes like depth.go's: no
// recursion, no allocation, linear in the record (metadata is small).
// Channel values and pending writes are the app's to decode into its own
// types and keep any key type.

import "fmt"

// errMapKey is the cause of metadata refused for a map key that is not a
// string; callers wrap it in ErrEncode.
var errMapKey = fmt.Errorf("a map key that is not a string (metadata reads back as map[string]any)")

// nonStringMapKey reports whether the msgpack value b holds, at any depth,
// a map key that is neither a string nor a byte string (both decode as a
// string key). Bytes that are not msgpack are not judged: the decoder
// that follows reports them.
func nonStringMapKey(b []byte) bool {
	// One level per open map or list: the items still to read, and
	// whether it is a map (then an item read at an even count left is a
	// key).
	type level struct {
		left  uint64
		isMap bool
	}
	var room [16]level
	stack := room[:0]
	cur := level{left: 1}
	for i := 0; ; {
		for cur.left == 0 {
			if len(stack) == 0 {
				return false
			}
			cur, stack = stack[len(stack)-1], stack[:len(stack)-1]
		}
		if i >= len(b) {
			return false
		}
		c := b[i]
		i++
		isKey := cur.isMap && cur.left%2 == 0
		cur.left--
		if isKey && !mpStringCode(c) {
			return true
		}
		skip, items, isMap, nest, ok := mpHeader(b, &i, c)
		if !ok || skip > uint64(len(b)-i) {
			return false // truncated or not msgpack: the decoder says so
		}
		i += int(skip)
		if nest && items > 0 {
			if len(stack) >= maxDepth {
				return false // tooDeep refuses it
			}
			stack = append(stack, cur)
			cur = level{left: items, isMap: isMap}
		}
	}
}

// mpStringCode reports whether c starts a msgpack string or byte string.
func mpStringCode(c byte) bool {
	return c >= 0xa0 && c <= 0xbf || c == 0xd9 || c == 0xda || c == 0xdb || c == 0xc4 || c == 0xc5 || c == 0xc6
}

// mpHeader reads the rest of the header of the msgpack value whose first
// byte c was at *i-1, moving *i past it: skip is the payload bytes after
// it, items the elements of a map (2 per entry) or list. ok is false for a
// truncated header or the unused code 0xc1.
func mpHeader(b []byte, i *int, c byte) (skip, items uint64, isMap, nest, ok bool) {
	ok = true
	switch {
	case c <= 0x7f || c >= 0xe0: // fixint
	case c <= 0x8f: // fixmap
		items, isMap, nest = 2*uint64(c&0x0f), true, true
	case c <= 0x9f: // fixarray
		items, nest = uint64(c&0x0f), true
	case c <= 0xbf: // fixstr
		skip = uint64(c & 0x1f)
	default:
		switch c {
		case 0xc0, 0xc2, 0xc3: // nil, false, true
		case 0xc4, 0xd9: // bin8, str8
			skip, ok = mpLength(b, i, 1)
		case 0xc5, 0xda: // bin16, str16
			skip, ok = mpLength(b, i, 2)
		case 0xc6, 0xdb: // bin32, str32
			skip, ok = mpLength(b, i, 4)
		case 0xc7: // ext8: length, type, data
			skip, ok = mpLength(b, i, 1)
			skip++
		case 0xc8:
			skip, ok = mpLength(b, i, 2)
			skip++
		case 0xc9:
			skip, ok = mpLength(b, i, 4)
			skip++
		case 0xcc, 0xd0: // uint8, int8
			skip = 1
		case 0xcd, 0xd1:
			skip = 2
		case 0xca, 0xce, 0xd2: // float32, uint32, int32
			skip = 4
		case 0xcb, 0xcf, 0xd3:
			skip = 8
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16: type and data
			skip = 1 + 1<<(c-0xd4)
		case 0xdc: // array16
			items, ok = mpLength(b, i, 2)
			nest = true
		case 0xdd:
			items, ok = mpLength(b, i, 4)
			nest = true
		case 0xde: // map16
			items, ok = mpLength(b, i, 2)
			items, isMap, nest = 2*items, true, true
		case 0xdf:
			items, ok = mpLength(b, i, 4)
			items, isMap, nest = 2*items, true, true
		default: // 0xc1, never used
			ok = false
		}
	}
	return skip, items, isMap, nest, ok
}
