package ckpt

// A reflection-free encoder for the generic shapes agent state is made of
// (map[string]any, []any, strings, numbers, bools, nil). It writes exactly
// the bytes msgpack's encoder writes with this package's settings (sorted
// map keys, compact integers), which a test checks on random values, and is
// several times faster: a growing `messages` list is encoded at every step.
// Plain structs of basic fields (and slices of them) use a cached per-type
// plan. Any other type is handed to msgpack.

import (
	"encoding"
	"encoding/binary"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
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
		if len(x) == 0 || wholeValue(x) != nil {
			return dst, false // Raw.EncodeMsgpack: nil, or the error
		}
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
	return appendReflect(dst, v)
}

// appendReflect handles plain structs of basic fields (the usual message
// type) and slices of them, with a per-type plan instead of msgpack's
// general reflection. Anything else goes to msgpack.
func appendReflect(dst []byte, v any) ([]byte, bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Struct:
		if p := planFor(rv.Type()); p != nil {
			return p.append(dst, rv), true
		}
	case reflect.Slice:
		if p := planFor(rv.Type().Elem()); p != nil {
			if rv.IsNil() {
				return append(dst, 0xc0), true
			}
			dst = appendListHeader(dst, rv.Len())
			for i := range rv.Len() {
				dst = p.append(dst, rv.Index(i))
			}
			return dst, true
		}
	}
	return dst, false
}

// structPlan encodes one struct type the way msgpack does (a map of its
// fields in declaration order), for the types planFor accepts.
type structPlan struct {
	names [][]byte // each field's name, already encoded
	kinds []reflect.Kind
}

var structPlans sync.Map // reflect.Type -> *structPlan (nil: not plain)

var marshalerTypes = []reflect.Type{
	reflect.TypeFor[msgpack.CustomEncoder](),
	reflect.TypeFor[msgpack.Marshaler](),
	reflect.TypeFor[encoding.BinaryMarshaler](),
	reflect.TypeFor[encoding.TextMarshaler](),
}

func customEncoded(t reflect.Type) bool {
	for _, m := range marshalerTypes {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

// planFor returns the plan of a plain struct type: every field exported,
// not embedded, of a basic kind without a custom encoding, and tagged at
// most with a bare name (no msgpack tag, no options). Others get nil.
func planFor(t reflect.Type) *structPlan {
	if t.Kind() != reflect.Struct {
		return nil
	}
	if p, ok := structPlans.Load(t); ok {
		return p.(*structPlan)
	}
	p := &structPlan{}
	if customEncoded(t) {
		p = nil
	}
	for i := 0; p != nil && i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("json")
		switch f.Type.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		default:
			p = nil
			continue
		}
		if !f.IsExported() || f.Anonymous || f.Tag.Get("msgpack") != "" || strings.ContainsAny(name, ",-") || customEncoded(f.Type) {
			p = nil
			continue
		}
		if name == "" {
			name = f.Name
		}
		p.names = append(p.names, appendString(nil, name))
		p.kinds = append(p.kinds, f.Type.Kind())
	}
	structPlans.Store(t, p)
	return p
}

func (p *structPlan) append(dst []byte, v reflect.Value) []byte {
	dst = appendMapHeader(dst, len(p.names))
	for i, name := range p.names {
		dst = append(dst, name...)
		f := v.Field(i)
		switch p.kinds[i] {
		case reflect.String:
			dst = appendString(dst, f.String())
		case reflect.Bool:
			if f.Bool() {
				dst = append(dst, 0xc3)
			} else {
				dst = append(dst, 0xc2)
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			dst = appendInt(dst, f.Int())
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			dst = appendUint(dst, f.Uint())
		case reflect.Float32:
			dst = binary.BigEndian.AppendUint32(append(dst, 0xca), math.Float32bits(float32(f.Float())))
		case reflect.Float64:
			dst = binary.BigEndian.AppendUint64(append(dst, 0xcb), math.Float64bits(f.Float()))
		}
	}
	return dst
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
