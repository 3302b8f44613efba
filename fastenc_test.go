package ckpt

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// genValue draws a random generic value, of every shape the fast path
// handles and some it hands to msgpack.
func genValue(depth int) *rapid.Generator[any] {
	return rapid.Custom(func(t *rapid.T) any {
		kinds := 16
		if depth <= 0 {
			kinds = 13
		}
		switch rapid.IntRange(0, kinds-1).Draw(t, "kind") {
		case 0:
			return nil
		case 1:
			return rapid.Bool().Draw(t, "b")
		case 2:
			n := rapid.SampledFrom([]int{0, 5, 31, 32, 255, 256, 70000}).Draw(t, "len")
			return strings.Repeat("s", n)
		case 3:
			return rapid.Int().Draw(t, "int")
		case 4:
			return rapid.Int64Range(math.MinInt64, math.MaxInt64).Draw(t, "i64")
		case 5:
			return rapid.SampledFrom([]any{int8(-128), int8(-33), int8(-32), int16(-300), int32(-70000), int64(math.MinInt64), uint8(200), uint16(60000), uint32(1 << 31), uint64(math.MaxUint64), uint(7)}).Draw(t, "edge")
		case 6:
			return rapid.Float64().Draw(t, "f64")
		case 7:
			return float32(rapid.Float64Range(-1e6, 1e6).Draw(t, "f32"))
		case 8:
			return rapid.SliceOfN(rapid.String(), 0, 20).Draw(t, "strs")
		case 9:
			return rapid.MapOf(rapid.String(), rapid.String()).Draw(t, "mss")
		case 10:
			return []byte(rapid.String().Draw(t, "bytes")) // msgpack's path
		case 11:
			return genStruct(t)
		case 12:
			return 3.0
		case 13:
			return rapid.SliceOfN(genValue(depth-1), 0, 20).Draw(t, "list")
		case 14:
			return rapid.MapOfN(rapid.String(), genValue(depth-1), 0, 18).Draw(t, "map")
		default:
			var m map[string]any
			return m
		}
	})
}

type plainMsg struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	Tokens  int
	Score   float64 `json:"score"`
	Ratio   float32
	OK      bool
	Small   int8
	Big     uint64
}

type taggedMsg struct {
	Role    string `msgpack:"r"`
	Content string `json:"content,omitempty"`
}

type withHidden struct {
	Role   string
	hidden int
}

type embeds struct {
	plainMsg
	Extra string
}

type nested struct {
	Msg  plainMsg
	Tags []string
}

type upper string

func (u upper) MarshalText() ([]byte, error) { return []byte(strings.ToUpper(string(u))), nil }

type withMarshaler struct {
	Name upper
}

type role string

type namedKinds struct {
	Role role
	N    uint16
}

func genStruct(t *rapid.T) any {
	s := rapid.String().Draw(t, "s")
	n := rapid.Int().Draw(t, "n")
	pm := plainMsg{Role: s, Content: strings.Repeat(s, 3), Tokens: n, Score: rapid.Float64().Draw(t, "score"), Ratio: float32(n % 1000), OK: n%2 == 0, Small: int8(n), Big: uint64(n) * 3}
	switch rapid.IntRange(0, 8).Draw(t, "struct") {
	case 0:
		return pm
	case 1:
		return []plainMsg{pm, pm, {}}
	case 2:
		var none []plainMsg
		return none
	case 3:
		return taggedMsg{Role: s} // msgpack's path (tags with options)
	case 4:
		return withHidden{Role: s, hidden: n} // msgpack's path (unexported field)
	case 5:
		return embeds{plainMsg: pm, Extra: s} // msgpack's path (embedded)
	case 6:
		return []nested{{Msg: pm, Tags: []string{s}}} // msgpack's path (non-basic field)
	case 7:
		return withMarshaler{Name: upper(s)} // msgpack's path (TextMarshaler)
	default:
		return []namedKinds{{Role: role(s), N: uint16(n)}}
	}
}

func TestFastEncoderWritesMsgpackBytes(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		v := genValue(3).Draw(t, "value")
		want, err := marshalSlow(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshal(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("fast path differs for %#v:\n got %x\nwant %x", v, got, want)
		}
	})
}

func TestFloatsStayFloats(t *testing.T) {
	t.Parallel()
	raw, err := encodeValue("f", map[string]any{"x": 3.0})
	if err != nil {
		t.Fatal(err)
	}
	v, err := raw.Value()
	if err != nil {
		t.Fatal(err)
	}
	if x := v.(map[string]any)["x"]; x != 3.0 {
		t.Fatalf("3.0 came back as %T %v", x, x)
	}
}

func TestFastEncoderStructShapes(t *testing.T) {
	t.Parallel()
	pm := plainMsg{Role: "user", Content: "Hello", Tokens: -7, Score: 0.25, Ratio: 1.5, OK: true, Small: -3, Big: 1 << 40}
	for _, v := range []any{
		pm, []plainMsg{pm, {}}, []plainMsg(nil), taggedMsg{Role: "r", Content: "c"}, withHidden{Role: "x", hidden: 3},
		embeds{plainMsg: pm, Extra: "e"}, []nested{{Msg: pm, Tags: []string{"a"}}}, withMarshaler{Name: "shout"},
		[]namedKinds{{Role: "tool", N: 9}}, map[string]any{"msg": pm, "list": []any{pm, withMarshaler{Name: "x"}}},
	} {
		want, err := marshalSlow(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := marshal(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%T: fast path differs:\n got %x\nwant %x", v, got, want)
		}
	}
	if planFor(reflect.TypeFor[plainMsg]()) == nil {
		t.Error("a plain message struct does not take the fast path")
	}
}
