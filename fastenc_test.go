package ckpt

import (
	"bytes"
	"math"
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
			type msg struct{ Role, Content string }
			return msg{"user", rapid.String().Draw(t, "content")} // msgpack's path
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

func TestFastEncoderWritesMsgpackBytes(t *testing.T) {
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
