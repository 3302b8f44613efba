package ckpt

// The Raw type: one stored value, decoded only when asked.

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// Raw is one value as stored: deterministic msgpack. Values read from the
// store come back as Raw and are decoded only when asked, so reading one
// channel does not decode the others. A Raw handed back to Put is stored as
// is, without re-encoding.
type Raw []byte

// Decode decodes the value into v (a pointer). Decoded into an `any` (or a
// map[string]any or []any), integers become int64 (uint64 only above
// MaxInt64), floats float64, maps map[string]any.
//
// Sound bytes that do not fit v (a string into an int, a list into a
// struct, v not a pointer) are ErrDecode naming the stored kind and the
// target type: the caller asked for the wrong type, the file is fine. Only
// bytes that are not one whole msgpack value are ErrCorrupt.
func (r Raw) Decode(v any) error {
	if len(r) == 0 {
		// The zero Raw is nil: msgpack leaves a Raw field or element
		// whose stored value is nil empty, without calling DecodeMsgpack,
		// and a write stores an empty Raw as nil.
		r = Raw{msgpcode.Nil}
	}
	if err := lockedKey(r); err != nil {
		return err // sealed, read without keys (crypt.go)
	}
	if err := unmarshal(r, v); err != nil {
		if errors.Is(err, errTooDeep) {
			return fmt.Errorf("%w: decode value: %v", ErrCorrupt, err)
		}
		if kind, ok := storedKind(r); ok {
			return fmt.Errorf("%w: stored %s into %s: %v", ErrDecode, kind, targetName(v), err)
		}
		return fmt.Errorf("%w: decode value: %v", ErrCorrupt, err)
	}
	return nil
}

// storedKind names the kind of the msgpack value b holds, or ok=false when
// b is not exactly one well-formed msgpack value (then it is damaged).
func storedKind(b []byte) (kind string, ok bool) {
	if len(b) == 0 || checkShape(b) != nil { // before msgpack's Skip reads a damaged length
		return "", false
	}
	r := bytes.NewReader(b)
	if err := msgpack.NewDecoder(r).Skip(); err != nil || r.Len() != 0 {
		return "", false
	}
	switch c := b[0]; {
	case c <= 0x7f || c >= 0xe0 || c >= 0xcc && c <= 0xd3:
		return "integer", true
	case c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf:
		return "map", true
	case c >= 0x90 && c <= 0x9f || c == 0xdc || c == 0xdd:
		return "list", true
	case c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb:
		return "string", true
	case c == 0xc0:
		return "nil", true
	case c == 0xc2 || c == 0xc3:
		return "bool", true
	case c >= 0xc4 && c <= 0xc6:
		return "bytes", true
	case c == 0xca || c == 0xcb:
		return "float", true
	case c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8:
		return "extension (e.g. time)", true
	}
	return "", false
}

// targetName names the Go type a value was decoded into.
func targetName(v any) string {
	t := reflect.TypeOf(v)
	switch {
	case t == nil:
		return "nil (want a pointer)"
	case t.Kind() != reflect.Pointer:
		return t.String() + " (not a pointer)"
	}
	return t.Elem().String()
}

// Value decodes the value into a generic Go value (map[string]any, []any,
// string, int64, float64, bool, []byte or nil).
func (r Raw) Value() (any, error) {
	var v any
	err := r.Decode(&v)
	return v, err
}

// EncodeMsgpack writes the stored bytes unchanged. It implements
// msgpack.CustomEncoder (and DecodeMsgpack msgpack.CustomDecoder), so a Raw
// read back and nested in a new value (a map, a struct field, metadata) is
// stored as the value it holds, not as a byte string; apps do not call it.
func (r Raw) EncodeMsgpack(enc *msgpack.Encoder) error {
	if len(r) == 0 {
		return enc.EncodeNil() // the zero Raw is nil (Decode)
	}
	if err := lockedKey(r); err != nil {
		return err
	}
	// Written as is into the enclosing value: bytes that are not one
	// whole value would leave it unreadable (a map key with no value).
	if err := wholeValue(r); err != nil {
		return err
	}
	return enc.Encode(msgpack.RawMessage(r))
}

// DecodeMsgpack keeps the encoded bytes.
func (r *Raw) DecodeMsgpack(dec *msgpack.Decoder) error {
	var m msgpack.RawMessage
	if err := dec.Decode(&m); err != nil {
		return err
	}
	*r = Raw(m)
	return nil
}
