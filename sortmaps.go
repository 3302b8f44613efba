package ckpt

// Equal values must be equal bytes: a (channel, version) names one value
// and a put sent again is known as stored by comparing bytes, here and in
// redisstore. msgpack's SetSortMapKeys orders the keys of map[string]any,
// map[string]string and map[string]bool only; any other map (map[string]int,
// map[int]string, a struct's map field) came out in Go's random map order,
// so the same value encoded twice could differ, and a retried put failed
// with ErrVersionReused (or ErrConflict with IfHead). A value holding such a
// map has the entries of every map in its encoding put in key order
// (string keys by their bytes, as the sorted encoders do; other keys after
// them, by their encoded bytes). Values without one keep their bytes.

import (
	"bytes"
	"reflect"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

var (
	stringType = reflect.TypeFor[string]()
	boolType   = reflect.TypeFor[bool]()
	anyType    = reflect.TypeFor[any]()
	custEnc    = reflect.TypeFor[msgpack.CustomEncoder]()
	marshaler  = reflect.TypeFor[msgpack.Marshaler]()
)

// holdsUnsortedMap is hasUnsortedMap with the generic shapes (those
// Put's values mostly are) walked without reflection.
func holdsUnsortedMap(v any, depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch x := v.(type) {
	case nil, bool, string, int, int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8,
		float64, float32, []byte, Raw, map[string]string, map[string]bool, []string, []int, []float64:
		return false
	case map[string]any:
		for _, e := range x {
			if holdsUnsortedMap(e, depth+1) {
				return true
			}
		}
		return false
	case []any:
		for _, e := range x {
			if holdsUnsortedMap(e, depth+1) {
				return true
			}
		}
		return false
	}
	return hasUnsortedMap(reflect.ValueOf(v), depth)
}

// hasUnsortedMap reports whether v holds a map msgpack encodes in Go's map
// order. A type with its own encoding is not looked into.
func hasUnsortedMap(v reflect.Value, depth int) bool {
	if !v.IsValid() || depth > maxDepth {
		return false
	}
	t := v.Type()
	if t.Implements(custEnc) || t.Implements(marshaler) || t == rawType {
		return false
	}
	switch v.Kind() {
	case reflect.Interface:
		if v.IsNil() {
			return false
		}
		if !v.CanInterface() {
			return hasUnsortedMap(v.Elem(), depth+1)
		}
		return holdsUnsortedMap(v.Elem().Interface(), depth+1)
	case reflect.Pointer:
		return !v.IsNil() && hasUnsortedMap(v.Elem(), depth+1)
	case reflect.Map:
		if v.IsNil() {
			return false
		}
		if t.Key() != stringType || t.Elem() != stringType && t.Elem() != boolType && t.Elem() != anyType {
			return v.Len() > 1
		}
		if t.Elem() == stringType || t.Elem() == boolType {
			return false
		}
		for it := v.MapRange(); it.Next(); {
			if hasUnsortedMap(it.Value(), depth+1) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		if !mayHoldMap(t.Elem()) {
			return false
		}
		for i := range v.Len() {
			if hasUnsortedMap(v.Index(i), depth+1) {
				return true
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if t.Field(i).IsExported() && hasUnsortedMap(v.Field(i), depth+1) {
				return true
			}
		}
	}
	return false
}

var rawType = reflect.TypeFor[Raw]()

// mayHoldMap reports whether a value of type t can hold a map.
func mayHoldMap(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return false
	}
	return true
}

// sortMaps returns b, one msgpack value, with the entries of each map in
// key order; b itself if it does not parse (the caller's checks report
// that).
func sortMaps(b []byte) []byte {
	out, end, ok := sortItem(b, 0, make([]byte, 0, len(b)), 0)
	if !ok || end != len(b) {
		return b
	}
	return out
}

func sortItem(b []byte, i int, out []byte, depth int) ([]byte, int, bool) {
	if i >= len(b) || depth > maxDepth {
		return out, i, false
	}
	start := i
	c := b[i]
	i++
	skip, items, isMap, nest, ok := mpHeader(b, &i, c)
	if !ok || skip > uint64(len(b)-i) || items > uint64(len(b)-i) {
		return out, i, false
	}
	i += int(skip)
	out = append(out, b[start:i]...)
	if !nest {
		return out, i, true
	}
	if !isMap {
		for range items {
			if out, i, ok = sortItem(b, i, out, depth+1); !ok {
				return out, i, false
			}
		}
		return out, i, true
	}
	type entry struct{ key, both []byte }
	entries := make([]entry, 0, items/2)
	for range items / 2 {
		var e []byte
		if e, i, ok = sortItem(b, i, nil, depth+1); !ok {
			return out, i, false
		}
		k := len(e)
		if e, i, ok = sortItem(b, i, e, depth+1); !ok {
			return out, i, false
		}
		entries = append(entries, entry{e[:k], e})
	}
	slices.SortStableFunc(entries, func(x, y entry) int { return compareKeys(x.key, y.key) })
	for _, e := range entries {
		out = append(out, e.both...)
	}
	return out, i, true
}

// compareKeys orders encoded map keys: strings first, by their bytes (the
// order of msgpack's sorted encoders), then the others by encoding.
func compareKeys(x, y []byte) int {
	xs, xok := mpStrBytes(x)
	ys, yok := mpStrBytes(y)
	switch {
	case xok && yok:
		return bytes.Compare(xs, ys)
	case xok:
		return -1
	case yok:
		return 1
	}
	return bytes.Compare(x, y)
}

// mpStrBytes returns the bytes of an encoded msgpack string.
func mpStrBytes(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	switch c := b[0]; {
	case c >= 0xa0 && c <= 0xbf:
		return b[1:], true
	case c == 0xd9 && len(b) >= 2:
		return b[2:], true
	case c == 0xda && len(b) >= 3:
		return b[3:], true
	case c == 0xdb && len(b) >= 5:
		return b[5:], true
	}
	return nil, false
}
