package ckpt

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/saverkit"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

// fataler is what the helpers below need of a *testing.T or *rapid.T.
type fataler interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// checkMatchEncoded compares matchEncoded on the metadata record body
// with what List did before it: decode the record, then matchMetadata.
// Where matchEncoded answers (ok), the decoding must succeed, the fast
// decoder must accept the record (matchEncoded promises to answer only
// on records it reads) and the answers must be equal. It returns
// matchEncoded's answer and ok.
func checkMatchEncoded(t fataler, body []byte, filter map[string]any) (match, ok bool) {
	t.Helper()
	f, err := saverkit.NormalizeFilter(filter)
	if err != nil {
		t.Fatalf("filter %#v: %v", filter, err)
	}
	enc, compiled := compileFilter(f)
	if !compiled {
		return false, false
	}
	match, ok = matchEncoded(body, enc)
	if !ok {
		return false, false
	}
	if _, fast := fastMetadataOf(body, string(body)); !fast {
		t.Fatalf("matchEncoded answered on % x, which fastMetadataOf declines", body)
	}
	md, err := decodeMetadataBody(body, string(body))
	if err != nil {
		t.Fatalf("matchEncoded answered on % x, which does not decode: %v", body, err)
	}
	if want := matchMetadata(md, f); match != want {
		t.Fatalf("metadata %#v (% x), filter %#v: matchEncoded %v, decoding %v", md, body, f, match, want)
	}
	return match, true
}

// encodeWide encodes v with msgpack's defaults: every integer in its
// Go type's width (uint64, int32, ...), float32 as float32.
func encodeWide(t fataler, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestMatchEncodedAgreesWithDecoding(t *testing.T) {
	t.Parallel()
	md := Metadata{
		"node": "tools", "step": 7, "big": 1 << 40, "neg": -300, "u64": uint64(math.MaxUint64),
		"f32": float32(1.5), "f64": 2.25, "whole": 3.0, "nan": math.NaN(), "yes": true, "nil": nil,
		"bytes": []byte("ab"), "empty": []byte{}, "s": "", "nested": map[string]any{"k": []any{1, "a"}, "deep": map[string]any{"z": 1}},
		"list": []any{1, "a", 2.5, nil, map[string]any{"q": false}},
	}
	cases := []struct {
		name   string
		filter map[string]any
		want   bool
	}{
		{"string", map[string]any{"node": "tools"}, true},
		{"other string", map[string]any{"node": "answer"}, false},
		{"missing key", map[string]any{"route": "x"}, false},
		{"two keys", map[string]any{"node": "tools", "step": 7}, true},
		{"two keys, one off", map[string]any{"node": "tools", "step": 8}, false},
		{"int as int8", map[string]any{"step": int8(7)}, true},
		{"int as uint16", map[string]any{"step": uint16(7)}, true},
		{"int as float", map[string]any{"step": 7.0}, true},
		{"int as string", map[string]any{"step": "7"}, false},
		{"int64", map[string]any{"big": int64(1 << 40)}, true},
		{"negative", map[string]any{"neg": int16(-300)}, true},
		{"uint64 max", map[string]any{"u64": uint64(math.MaxUint64)}, true},
		{"uint64 max as -1", map[string]any{"u64": -1}, false},
		{"float32 stored", map[string]any{"f32": 1.5}, true},
		{"float32 filter", map[string]any{"f64": float32(2.25)}, true},
		{"float against int", map[string]any{"whole": 3}, true},
		{"NaN", map[string]any{"nan": math.NaN()}, false},
		{"bool", map[string]any{"yes": true}, true},
		{"bool off", map[string]any{"yes": false}, false},
		{"nil", map[string]any{"nil": nil}, true},
		{"nil against a value", map[string]any{"node": nil}, false},
		{"bytes", map[string]any{"bytes": []byte("ab")}, true},
		{"bytes against a string", map[string]any{"bytes": "ab"}, false},
		{"empty bytes", map[string]any{"empty": []byte{}}, true},
		{"empty string", map[string]any{"s": ""}, true},
		{"nested subset", map[string]any{"nested": map[string]any{"deep": map[string]any{"z": 1}}}, true},
		{"nested list", map[string]any{"nested": map[string]any{"k": []any{1, "a"}}}, true},
		{"nested list, other length", map[string]any{"nested": map[string]any{"k": []any{1}}}, false},
		{"nested off", map[string]any{"nested": map[string]any{"deep": map[string]any{"z": 2}}}, false},
		{"empty nested filter", map[string]any{"nested": map[string]any{}}, true},
		{"empty nested filter on a string", map[string]any{"node": map[string]any{}}, false},
		{"list", map[string]any{"list": []any{1, "a", 2.5, nil, map[string]any{"q": false}}}, true},
		{"list item off", map[string]any{"list": []any{1, "a", 2.5, nil, map[string]any{"q": true}}}, false},
		{"list against a map", map[string]any{"nested": []any{}}, false},
	}
	for _, body := range [][]byte{mustEncodeMetadataBody(t, md), encodeWide(t, md)} {
		for _, c := range cases {
			match, ok := checkMatchEncoded(t, body, c.filter)
			if !ok {
				t.Errorf("%s: matchEncoded declined a record fastMetadataOf reads", c.name)
			} else if match != c.want {
				t.Errorf("%s: %v, want %v", c.name, match, c.want)
			}
		}
	}

	// Records it must not answer on: the caller decodes them, and errors
	// or values only msgpack's decoder gives stay its own.
	timed := encodeWide(t, map[string]any{"node": "tools", "at": time.Unix(1700000000, 0).UTC()})
	if _, ok := checkMatchEncoded(t, timed, map[string]any{"node": "tools"}); ok {
		t.Errorf("answered on a record with a time (an ext type) under another key")
	}
	good := encodeWide(t, map[string]any{"node": "tools", "step": 1})
	for i := range good {
		if _, ok := checkMatchEncoded(t, good[:i], map[string]any{"node": "tools"}); ok {
			t.Errorf("answered on the record cut to %d bytes", i)
		}
	}
	if _, ok := checkMatchEncoded(t, append(bytes.Clone(good), 0xc0), map[string]any{"node": "tools"}); ok {
		t.Errorf("answered on a record with a trailing byte")
	}
	if _, ok := checkMatchEncoded(t, []byte{0xc0}, map[string]any{"node": "tools"}); ok {
		t.Errorf("answered on a nil map")
	}
	// A key stored twice: decoding keeps the last value.
	dup := []byte{0x82, 0xa4, 'n', 'o', 'd', 'e', 0xa5, 't', 'o', 'o', 'l', 's', 0xa4, 'n', 'o', 'd', 'e', 0xa1, 'x'}
	if match, ok := checkMatchEncoded(t, dup, map[string]any{"node": "tools"}); !ok || match {
		t.Errorf("key stored twice, first value matching: %v %v, want false true", match, ok)
	}
	if match, ok := checkMatchEncoded(t, dup, map[string]any{"node": "x"}); !ok || !match {
		t.Errorf("key stored twice, last value matching: %v %v, want true true", match, ok)
	}
	// A filter of a type matchEncoded does not compare: not compiled.
	if _, ok := compileFilter(map[string]any{"at": time.Unix(0, 0)}); ok {
		t.Errorf("compiled a filter holding a time")
	}

	// Random records and filters from a small domain, so that keys and
	// values meet often and across encodings; and every record with one
	// byte changed.
	rapid.Check(t, func(rt *rapid.T) {
		md := rapidMap(rt, "md", 0)
		filter := rapidMap(rt, "filter", 0)
		if rapid.Bool().Draw(rt, "filter from md") {
			for k, v := range md {
				if rapid.Bool().Draw(rt, "keep "+k) {
					filter[k] = v
				}
			}
		}
		if len(filter) == 0 {
			return
		}
		body := encodeWide(rt, md)
		if rapid.Bool().Draw(rt, "compact") {
			body = mustEncodeMetadataBody(rt, md)
		}
		norm, err := saverkit.NormalizeFilter(filter)
		if err != nil {
			rt.Fatal(err)
		}
		_, compiled := compileFilter(norm)
		if _, ok := checkMatchEncoded(rt, body, filter); !ok && compiled {
			if _, fast := fastMetadataOf(body, string(body)); fast {
				rt.Fatalf("declined % x, which fastMetadataOf reads", body)
			}
		}
		if len(body) > 0 {
			i := rapid.IntRange(0, len(body)-1).Draw(rt, "at")
			body[i] = byte(rapid.IntRange(0, 255).Draw(rt, "byte"))
			checkMatchEncoded(rt, body, filter)
		}
	})
}

// mustEncodeMetadataBody encodes md as the store does, without the
// record's version and sum.
func mustEncodeMetadataBody(t fataler, md Metadata) []byte {
	t.Helper()
	rec, err := encodeMetadata(0, nil, md)
	if err != nil {
		t.Fatal(err)
	}
	body, err := recordBody("metadata", 0, nil, rec, metadataRecordV1, metadataRecordV2)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// rapidMap draws a map over a few keys whose values are drawn by
// rapidValue.
func rapidMap(t *rapid.T, label string, depth int) map[string]any {
	m := map[string]any{}
	for range rapid.IntRange(0, 4).Draw(t, label+" keys") {
		k := rapid.SampledFrom([]string{"node", "step", "a", "", "deep"}).Draw(t, label+" key")
		m[k] = rapidValue(t, label, depth+1)
	}
	return m
}

// rapidValue draws a value of every kind metadata holds, numbers of every
// width and a few values equal across kinds (7, int8(7), 7.0, float32(7)).
func rapidValue(t *rapid.T, label string, depth int) any {
	kinds := 12
	if depth > 2 {
		kinds = 10
	}
	switch rapid.IntRange(0, kinds-1).Draw(t, label+" kind") {
	case 0:
		return nil
	case 1:
		return rapid.Bool().Draw(t, label+" bool")
	case 2:
		return rapid.SampledFrom([]any{7, int8(7), uint8(7), int16(-300), uint16(300), int32(-70000), uint32(70000), int64(1 << 40), uint64(1 << 40), uint64(math.MaxUint64), -1, 0}).Draw(t, label+" int")
	case 3:
		return rapid.SampledFrom([]any{7.0, float32(7), 1.5, float32(1.5), math.NaN(), math.Inf(1), -0.0, float64(1 << 40), float64(math.MaxUint64)}).Draw(t, label+" float")
	case 4, 5:
		return rapid.SampledFrom([]string{"tools", "answer", "", "7", strings.Repeat("x", 40), strings.Repeat("y", 300)}).Draw(t, label+" string")
	case 6:
		return rapid.SampledFrom([][]byte{{}, []byte("tools"), []byte("7")}).Draw(t, label+" bytes")
	case 7:
		return rapid.IntRange(-200, 300).Draw(t, label+" small int")
	case 8:
		return time.Unix(int64(rapid.IntRange(0, 3).Draw(t, label+" time")), 0).UTC()
	case 9:
		return rapid.SampledFrom([]any{"tools", 7, true}).Draw(t, label+" common")
	case 10:
		n := rapid.IntRange(0, 3).Draw(t, label+" items")
		s := make([]any, n)
		for i := range s {
			s[i] = rapidValue(t, label, depth+1)
		}
		return s
	}
	return rapidMap(t, label, depth)
}
