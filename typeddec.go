package ckpt

// Decoding a value into the caller's Go type without msgpack's Decoder.
//
// Raw.Decode into a typed target ([]Message, a struct of strings and
// numbers) went through msgpack's reflection: a Decoder and bytes.Reader,
// two copies of every string (into the Decoder's buffer, then into the
// string), a sync.Map lookup per element for its decoder and per struct
// for its field table. That was most of the bench's "R1 + decode". Here a
// plan per Go type (built once, cached) reads the bytes in place with
// mpReader (fastdec.go) and sets the fields by index.
//
// It decodes exactly what msgpack's Decoder would, or declines: the
// caller then resets the target to zero and decodes with msgpack as
// before, so a value the fast path does not know (an ext, a float where an
// int is due, an array for a struct, a duplicated key) decodes, or fails,
// as it always has. A plan exists only for types msgpack decodes by plain
// reflection: strings, bools, integers, floats, slices of them, and
// structs of them without embedded fields, `_msgpack` options or tag
// options other than omitempty; a type (or its pointer) with a decoding
// method (DecodeMsgpack, UnmarshalMsgpack, UnmarshalBinary,
// UnmarshalText) has none, nor a type containing one. The target must be
// the zero value: msgpack decodes into what is there (a slice's elements,
// a struct's other fields), and a zero target is also what declining
// restores. Generic targets (*any, *map[string]any, *[]any) take
// mpReader.value, the metadata decoder's, which builds what msgpack's
// DecodeInterface and normalize build. typeddec_test.go checks the
// agreement on generated values, mutated bytes and each kind of decline.

import (
	"encoding"
	"math"
	"reflect"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// maxSharedStrings is the longest value whose strings are substrings of
// one copy of it: a value of 200 messages cost 400 string allocations, and
// with one copy a single allocation. A string kept after the rest is
// dropped keeps that copy alive, so only values up to this size share
// one; in a longer value each string is its own copy.
const maxSharedStrings = 64 << 10

// typedPlan decodes one Go type. kind picks the decoding; elem is a
// slice's element plan, fields a struct's.
type typedPlan struct {
	kind   reflect.Kind
	elem   *typedPlan
	fields []typedField
}

type typedField struct {
	name  string
	key   string // name as msgpack writes a str: fixstr or str8 header, then name
	index int
	plan  *typedPlan
}

// typedPlans caches a plan per reflect.Type; a type without one maps to a
// nil *typedPlan.
var typedPlans sync.Map

var (
	customDecoderT = reflect.TypeFor[msgpack.CustomDecoder]()
	unmarshalerT   = reflect.TypeFor[msgpack.Unmarshaler]()
	binaryUnmarshT = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textUnmarshT   = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// planOf returns the plan for t, or nil when msgpack's Decoder must
// decode t.
func planOf(t reflect.Type) *typedPlan {
	if p, ok := typedPlans.Load(t); ok {
		return p.(*typedPlan)
	}
	building := map[reflect.Type]*typedPlan{}
	p := buildPlan(t, building)
	typedPlans.Store(t, p)
	return p
}

// buildPlan builds t's plan; building holds the plans under construction,
// so a recursive type (a tree of structs) refers to its own plan.
func buildPlan(t reflect.Type, building map[reflect.Type]*typedPlan) *typedPlan {
	if p, ok := building[t]; ok {
		return p
	}
	for _, m := range []reflect.Type{customDecoderT, unmarshalerT, binaryUnmarshT, textUnmarshT} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return nil
		}
	}
	p := &typedPlan{kind: t.Kind()}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Float32, reflect.Float64,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return p
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // []byte: bin or str, msgpack's own rules
		}
		building[t] = p
		if p.elem = buildPlan(t.Elem(), building); p.elem == nil {
			return nil
		}
		return p
	case reflect.Struct:
		building[t] = p
		if !structFields(t, p, building) {
			return nil
		}
		return p
	}
	return nil // maps, pointers, interfaces, arrays, ...
}

// structFields fills p.fields with t's fields named as msgpack names them
// (msgpack tag, else json tag, else the field name; "-" skipped,
// unexported ones skipped), and reports false for anything msgpack treats
// specially: an embedded field, a `_msgpack` options field, a tag option
// that changes decoding, a tag its parser reads in other ways (quotes,
// colons), two fields of one name, more than 64 fields.
func structFields(t reflect.Type, p *typedPlan, building map[reflect.Type]*typedPlan) bool {
	if t.NumField() > 64 {
		return false // the seen-mask of decodeStruct
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || f.Name == "_msgpack" {
			return false
		}
		tag := f.Tag.Get("msgpack")
		if tag == "" {
			tag = f.Tag.Get("json")
		}
		if strings.ContainsAny(tag, "':\\( \t") {
			return false
		}
		name, opts, _ := strings.Cut(tag, ",")
		for opts != "" {
			var o string
			o, opts, _ = strings.Cut(opts, ",")
			if o != "" && o != "omitempty" && o != "string" {
				return false // intern, inline, alias, ...
			}
		}
		if name == "-" {
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if names[name] {
			return false
		}
		names[name] = true
		fp := buildPlan(f.Type, building)
		if fp == nil {
			return false
		}
		var key string
		if h := mpStrHeader(len(name)); h != nil {
			key = string(append(h, name...))
		}
		p.fields = append(p.fields, typedField{name: name, key: key, index: i, plan: fp})
	}
	return true
}

// fastUnmarshal decodes b into v if v points to a zero value of a type
// with a plan, reporting whether it did; on false v is as it was.
func fastUnmarshal(b []byte, v any) bool {
	switch p := v.(type) {
	case *any:
		return p != nil && *p == nil && fastGeneric(b, p)
	case *map[string]any:
		// msgpack replaces the map whatever was there (DecodeMap).
		return p != nil && fastGeneric(b, p)
	case *[]any:
		return p != nil && *p == nil && fastGeneric(b, p)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	e := rv.Elem()
	if k := e.Kind(); k != reflect.Slice && k != reflect.Struct {
		return false // scalars: msgpack's own Decode has typed fast paths
	}
	p := planOf(e.Type())
	if p == nil || !e.IsZero() {
		return false
	}
	r := mpReader{b: b}
	if !p.decode(&r, e) {
		e.SetZero()
		return false
	}
	return true
}

// fastGeneric decodes b into p, a *any, *map[string]any or *[]any, with
// mpReader.value, which gives what msgpack's DecodeInterface followed by
// normalize gives (fastdec_test.go, typeddec_test.go check it). A value
// of another kind than p's declines.
func fastGeneric(b []byte, p any) bool {
	if len(b) > 0 && b[0] == msgpcode.Nil {
		if m, ok := p.(*map[string]any); ok {
			*m = nil // as DecodeMap; *any and *[]any are nil already
		}
		return true
	}
	r := mpReader{b: b}
	if len(b) <= maxSharedStrings {
		r.s = string(b) // one copy for all the value's strings
	}
	x, ok := r.value()
	if !ok {
		return false
	}
	switch p := p.(type) {
	case *any:
		*p = x
	case *map[string]any:
		m, isMap := x.(map[string]any)
		if !isMap {
			return false
		}
		*p = m
	case *[]any:
		s, isList := x.([]any)
		if !isList {
			return false
		}
		*p = s
	}
	return true
}

// decode reads one value into v, which is the zero value of p's type.
func (p *typedPlan) decode(r *mpReader, v reflect.Value) bool {
	c, ok := r.code()
	if !ok {
		return false
	}
	switch p.kind {
	case reflect.String:
		s, isNil, ok := r.bytesOf(c) // str or bin, as msgpack's DecodeString
		if ok && !isNil && len(s) > 0 {
			if r.s == "" && len(r.b) <= maxSharedStrings {
				r.s = string(r.b) // one copy for all the value's strings
			}
			v.SetString(r.text(s))
		}
		return ok
	case reflect.Bool:
		switch c {
		case msgpcode.True:
			v.SetBool(true)
			return true
		case msgpcode.False:
			return true
		}
		return false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		r.i--
		n, ok := r.int()
		if ok {
			v.SetInt(n) // msgpack truncates to the field's size alike
		}
		return ok
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		r.i--
		n, ok := r.int()
		if ok {
			v.SetUint(uint64(n)) // as msgpack: a negative wraps
		}
		return ok
	case reflect.Float32, reflect.Float64:
		switch {
		case c == msgpcode.Float:
			n, ok := r.n(4)
			v.SetFloat(float64(math.Float32frombits(uint32(n))))
			return ok
		case c == msgpcode.Double && p.kind == reflect.Float64:
			n, ok := r.n(8)
			v.SetFloat(math.Float64frombits(n))
			return ok
		}
		return false // an integer into a float: msgpack converts
	case reflect.Slice:
		n, ok := r.arrayLenOf(c)
		if !ok || n > len(r.b)-r.i { // every element is at least a byte
			return false
		}
		switch {
		case n < 0:
			return true // nil stays nil
		case n == 0:
			v.Set(reflect.MakeSlice(v.Type(), 0, 0)) // empty, not nil, as msgpack
			return true
		}
		if !r.enter() {
			return false
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := range n {
			if !p.elem.decode(r, s.Index(i)) {
				return false
			}
		}
		r.depth--
		v.Set(s)
		return true
	case reflect.Struct:
		return p.decodeStruct(r, c, v)
	}
	return false
}

// decodeStruct reads a map into struct v by field names; nil leaves v
// zero. An array (msgpack's as_array form) and a key met twice decline.
func (p *typedPlan) decodeStruct(r *mpReader, c byte, v reflect.Value) bool {
	n, ok := r.mapLenOf(c)
	if !ok || n > (len(r.b)-r.i)/2 { // every pair is at least two bytes
		return false
	}
	if n < 0 {
		return true
	}
	if !r.enter() {
		return false
	}
	var seen uint64
	next := 0 // the field after the last one read
	for range n {
		// A struct's fields are written in their order: try the next
		// field's key, header and name, as one comparison first.
		f := -1
		if next < len(p.fields) {
			if k := p.fields[next].key; k != "" && len(r.b)-r.i >= len(k) && string(r.b[r.i:r.i+len(k)]) == k {
				f = next
				r.i += len(k)
			}
		}
		if f < 0 {
			kc, ok := r.code()
			if !ok {
				return false
			}
			key, _, ok := r.bytesOf(kc) // nil is the name "", as msgpack reads it
			if !ok {
				return false
			}
			if f = p.field(key); f < 0 {
				if _, ok := r.skip(); !ok {
					return false
				}
				continue
			}
		}
		next = f + 1
		if seen&(1<<f) != 0 {
			return false // the field is no longer zero: msgpack decodes into it
		}
		seen |= 1 << f
		fd := &p.fields[f]
		if !fd.plan.decode(r, v.Field(fd.index)) {
			return false
		}
	}
	r.depth--
	return true
}

// mpStrHeader is the header msgpack writes before a string of n bytes,
// or nil past 65535 (such a name is only read by the slow path).
func mpStrHeader(n int) []byte {
	switch {
	case n <= 31:
		return []byte{msgpcode.FixedStrLow | byte(n)}
	case n <= 255:
		return []byte{msgpcode.Str8, byte(n)}
	case n <= 65535:
		return []byte{msgpcode.Str16, byte(n >> 8), byte(n)}
	}
	return nil
}

// field returns the index in p.fields of the field named key, or -1.
func (p *typedPlan) field(key []byte) int {
	for i := range p.fields {
		if p.fields[i].name == string(key) {
			return i
		}
	}
	return -1
}
