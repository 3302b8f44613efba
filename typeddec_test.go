package ckpt

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

type tdRole string

type tdMsg struct {
	Role    tdRole `json:"role"`
	Content string `json:"content,omitempty"`
	Skip    string `json:"-"`
	hidden  string //nolint:unused // unexported: never decoded
	Over    int    `msgpack:"o" json:"over"`
}

type tdScalars struct {
	I   int
	I8  int8
	I16 int16
	I32 int32
	I64 int64
	U   uint
	U8  uint8
	U16 uint16
	U32 uint32
	U64 uint64
	F32 float32
	F64 float64
	B   bool
	S   string
	Ss  []string
	Is  [][]int64
}

type tdNode struct {
	Name string   `json:"name"`
	Kids []tdNode `json:"kids"`
}

type tdNested struct {
	Msgs  []tdMsg   `json:"msgs"`
	Inner tdScalars `json:"inner"`
	Tree  tdNode    `json:"tree"`
}

// tdLong has names written as str8 (over 31 bytes) and names that are
// prefixes of each other.
type tdLong struct {
	A  string `json:"a_field_name_longer_than_thirty_one_bytes"`
	B  int    `json:"a_field_name_longer_than_thirty_one_bytes_too"`
	Ab string `json:"ab"`
	AA string `json:"a"`
}

// Types the fast path leaves to msgpack.
type (
	tdText  struct{ S string }
	TdBase  struct{ X string }
	tdEmbed struct{ TdBase } // (msgpack panics on an unexported embedded struct)
	tdArray struct {
		_msgpack struct{} `msgpack:",as_array"`
		A, B     string
	}
	tdIntern struct {
		S string `msgpack:",intern"`
	}
	tdMap   struct{ M map[string]string }
	tdPtr   struct{ P *string }
	tdAny   struct{ A any }
	tdTime  struct{ T time.Time }
	tdBytes struct{ B []byte }
	tdDup   struct {
		A string `msgpack:"x"`
		B string `msgpack:"x"`
	}
)

func (t *tdText) UnmarshalText(b []byte) error { t.S = "text:" + string(b); return nil }

// tdTargets are the typed targets checked: new pointers to zero values.
var tdTargets = []func() any{
	func() any { return new(tdMsg) },
	func() any { return new([]tdMsg) },
	func() any { return new(tdScalars) },
	func() any { return new([]tdScalars) },
	func() any { return new(tdNode) },
	func() any { return new(tdNested) },
	func() any { return new([]string) },
	func() any { return new([][]tdRole) },
	func() any { return new([]float32) },
	func() any { return new([]tdLong) },
	func() any { return new([]uint8) },
	func() any { return new([]tdText) },
	func() any { return new(tdEmbed) },
	func() any { return new([]tdArray) },
	func() any { return new(tdIntern) },
	func() any { return new(tdMap) },
	func() any { return new(tdPtr) },
	func() any { return new(tdAny) },
	func() any { return new(tdTime) },
	func() any { return new(tdBytes) },
	func() any { return new(tdDup) },
}

// msgpackOnly decodes b into v as unmarshal did before the fast path.
func msgpackOnly(b []byte, v any) error {
	if err := checkShape(b); err != nil {
		return err
	}
	if err := decodeMsgpack(b, v); err != nil {
		return err
	}
	normalizeTarget(v)
	return nil
}

// tdShaped generates a value shaped like t (mostly): maps with t's field
// names, lists of its elements, scalars of its kind, and now and then a
// wrong kind, a missing or unknown key, nil, a repeated key's worth of
// surprises for the decoders to agree on.
func tdShaped(rng *rand.Rand, t reflect.Type, depth int) any {
	if rng.IntN(12) == 0 || depth > 6 {
		return randValue(rng, 2)
	}
	switch t.Kind() {
	case reflect.String:
		switch rng.IntN(8) {
		case 0:
			return nil
		case 1:
			return []byte("bin")
		}
		return strings.Repeat("wörd ", rng.IntN(20))
	case reflect.Bool:
		return rng.IntN(2) == 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		switch rng.IntN(6) {
		case 0:
			return rng.IntN(300) - 150
		case 1:
			return rng.Int64() - rng.Int64()
		case 2:
			return rng.Uint64()
		case 3:
			return 2.5
		}
		return rng.IntN(1 << 20)
	case reflect.Float32, reflect.Float64:
		switch rng.IntN(4) {
		case 0:
			return float32(rng.NormFloat64())
		case 1:
			return rng.IntN(100)
		}
		return rng.NormFloat64()
	case reflect.Slice:
		if rng.IntN(8) == 0 {
			return nil
		}
		s := make([]any, rng.IntN(5))
		for i := range s {
			s[i] = tdShaped(rng, t.Elem(), depth+1)
		}
		return s
	case reflect.Struct:
		m := map[string]any{}
		for i := range t.NumField() {
			f := t.Field(i)
			if rng.IntN(4) == 0 {
				continue
			}
			name := f.Name
			if tag := f.Tag.Get("msgpack"); tag != "" {
				name, _, _ = strings.Cut(tag, ",")
			} else if tag := f.Tag.Get("json"); tag != "" {
				name, _, _ = strings.Cut(tag, ",")
			}
			if name == "" || rng.IntN(10) == 0 {
				name = f.Name
			}
			m[name] = tdShaped(rng, f.Type, depth+1)
		}
		if rng.IntN(4) == 0 {
			m["unknown"] = randValue(rng, 1)
		}
		if rng.IntN(10) == 0 {
			return []any{"a", "b"} // as an array
		}
		return m
	}
	return randValue(rng, 2)
}

// tdCatch runs f, reporting a panic: msgpack v5.4.1 panics on nil for a
// struct field with a decoding method (time.Time, UnmarshalText), in its
// decodeNilValue; decodeMsgpack turns that into an error, and neither
// side may panic differently from the other.
func tdCatch(f func() error) (err error, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	return f(), false
}

// TestTypedDecodeAgreesWithMsgpack: for generated values shaped like each
// target type (and their damaged bytes), unmarshal gives what msgpack's
// Decoder gives, value and error alike; and the fast path takes most
// well-formed values of the types it knows.
func TestTypedDecodeAgreesWithMsgpack(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	taken := map[string]int{}
	check := func(b []byte, target func() any) {
		got, want := target(), target()
		gerr, gp := tdCatch(func() error { return unmarshal(b, got) })
		werr, wp := tdCatch(func() error { return msgpackOnly(b, want) })
		name := reflect.TypeOf(got).Elem().String()
		if gp != wp {
			t.Fatalf("%s from %x: unmarshal panicked %v, msgpack panicked %v", name, b, gp, wp)
		}
		if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("%s from %x: unmarshal %v, msgpack %v", name, b, gerr, werr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s from %x:\nunmarshal %#v\nmsgpack   %#v", name, b, got, want)
		}
		if fastUnmarshal(b, target()) {
			taken[name]++
		}
	}
	// 100 rounds under -race (62 s for 400 in a loaded CI run, 54 s for
	// 250): one goroutine compares two pure decoders, nothing the detector
	// watches; CI's plain command runs all 400 in every run. The fast
	// path must take 50 values of each type it knows in 400 rounds, and a
	// share as large under -race (below): 100 rounds gave tdScalars 32.
	rounds := raceRounds(t, 400, 100)
	for range rounds {
		for _, target := range tdTargets {
			typ := reflect.TypeOf(target()).Elem()
			v := tdShaped(rng, typ, 0)
			bs := encodeBoth(t, v)
			ours, err := marshal(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			// And the typed value re-encoded: a struct's fields in their
			// order, not sorted as a map's keys.
			w := target()
			if err, panicked := tdCatch(func() error { return msgpackOnly(ours, w) }); err == nil && !panicked {
				if wb, err := marshal(nil, w); err == nil {
					bs = append(bs, wb)
				}
			}
			for _, b := range append(bs, ours) {
				check(b, target)
				m := bytes.Clone(b)
				m[rng.IntN(len(m))] ^= byte(1 + rng.IntN(255))
				check(m, target)
				check(b[:rng.IntN(len(b))], target)
				check(append(bytes.Clone(b), byte(rng.IntN(256))), target)
			}
		}
	}
	// Generic targets: random values of every kind.
	generic := []func() any{
		func() any { return new(any) },
		func() any { return new(map[string]any) },
		func() any { return new([]any) },
		func() any { m := map[string]any{"old": 1}; return &m },
		func() any { s := []any{"old", 2}; return &s },
	}
	for range 2000 * rounds / 400 {
		v := randValue(rng, 0)
		switch rng.IntN(3) {
		case 0:
			v = map[string]any{"a": v, "b": randValue(rng, 1)}
		case 1:
			v = []any{v, randValue(rng, 1)}
		}
		bs := encodeBoth(t, v)
		for _, b := range bs {
			for _, target := range generic {
				check(b, target)
				m := bytes.Clone(b)
				m[rng.IntN(len(m))] ^= byte(1 + rng.IntN(255))
				check(m, target)
				check(b[:rng.IntN(len(b))], target)
			}
		}
	}
	// A key met twice: msgpack decodes the second list into the first
	// (its element keeps "content"), a fresh decode would not.
	dup := bytes.Join([][]byte{{0x82}, mpStr("msgs"), mustMarshal(t, []tdMsg{{Role: "a", Content: "x"}}),
		mpStr("msgs"), mustMarshal(t, []map[string]string{{"role": "b"}})}, nil)
	check(dup, func() any { return new(tdNested) })
	var n tdNested
	if err := unmarshal(dup, &n); err != nil || len(n.Msgs) != 1 || n.Msgs[0].Content != "x" {
		t.Errorf("a repeated key: %+v, %v; want msgpack's merge", n.Msgs, err)
	}
	for _, name := range []string{"interface {}", "map[string]interface {}", "[]interface {}", "ckpt.tdMsg", "[]ckpt.tdMsg", "ckpt.tdScalars", "[]ckpt.tdScalars", "ckpt.tdNode", "ckpt.tdNested", "[]string", "[][]ckpt.tdRole", "[]float32", "[]ckpt.tdLong"} {
		if taken[name] < 50*rounds/400 {
			t.Errorf("%s: the fast path took %d values in %d rounds", name, taken[name], rounds)
		}
	}
	for _, name := range []string{"[]uint8", "[]ckpt.tdText", "ckpt.tdEmbed", "[]ckpt.tdArray", "ckpt.tdIntern", "ckpt.tdMap", "ckpt.tdPtr", "ckpt.tdAny", "ckpt.tdTime", "ckpt.tdBytes", "ckpt.tdDup"} {
		if taken[name] != 0 {
			t.Errorf("%s: the fast path took %d values, want it left to msgpack", name, taken[name])
		}
	}
}

// A target that is not zero is left to msgpack, which decodes into what
// is there: the fields the value does not name keep their values.
func TestTypedDecodeIntoNonZeroTarget(t *testing.T) {
	b := mustMarshal(t, map[string]any{"role": "user"})
	got := tdMsg{Content: "kept", Over: 3}
	if err := unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if want := (tdMsg{Role: "user", Content: "kept", Over: 3}); got != want {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
	s := []tdMsg{{Content: "kept"}}
	if fastUnmarshal(b, &s) {
		t.Fatal("the fast path took a non-empty slice")
	}
}

// A value the fast path declines half-way leaves the target as it was
// (zero), and msgpack's decode that follows sees no trace of the attempt.
func TestTypedDecodeDeclineRestoresTarget(t *testing.T) {
	// Two good messages, then one whose content is an ext (time.Time).
	b := mustMarshal(t, []any{
		map[string]any{"role": "user", "content": "a"},
		map[string]any{"role": "assistant", "content": "b"},
		map[string]any{"role": "user", "content": time.Unix(1, 0)},
	})
	var msgs []tdMsg
	if fastUnmarshal(b, &msgs) {
		t.Fatal("the fast path took an ext for a string")
	}
	if msgs != nil {
		t.Fatalf("declined, left %#v", msgs)
	}
	var want []tdMsg
	werr := msgpackOnly(b, &want)
	gerr := unmarshal(b, &msgs)
	if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(msgs, want) {
		t.Fatalf("unmarshal %#v, %v; msgpack %#v, %v", msgs, gerr, want, werr)
	}
}

// Decoded strings are copies: b may be a page of bbolt's map, reused
// after the read, so overwriting b must not change them (for a value
// whose strings share one copy and for a longer one copied string by
// string).
func TestTypedDecodeCopiesStrings(t *testing.T) {
	for _, n := range []int{3, maxSharedStrings / 100} {
		want := make([]tdMsg, n)
		for i := range want {
			want[i] = tdMsg{Role: "user", Content: strings.Repeat("x", 150)}
		}
		b := mustMarshal(t, want)
		if n > 3 && len(b) <= maxSharedStrings {
			t.Fatalf("%d bytes: not over maxSharedStrings", len(b))
		}
		var got []tdMsg
		if !fastUnmarshal(b, &got) {
			t.Fatalf("%d messages: the fast path declined", n)
		}
		for i := range b {
			b[i] = 'z'
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%d messages: changed with the bytes decoded", n)
		}
	}
}
