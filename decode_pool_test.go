package ckpt

import (
	"bytes"
	"errors"
	"testing"
)

// poolProbe is decoded by msgpack's Decoder (a Raw field: the decode
// records the field's bytes), with json tags only: a pooled decoder that
// lost its struct tag would leave Name and Inner empty.
type poolProbe struct {
	Name  string `json:"name"`
	Inner Raw    `json:"inner"`
	N     int64  `json:"n"`
}

// TestPooledDecoderNoStateAcrossCalls: decodes that fail half-way
// (a truncated Raw field, a wrong type after a good field, a list
// where the struct is due) leave no state in the pooled decoders that the
// next decode sees: each later decode gives exactly its own value.
func TestPooledDecoderNoStateAcrossCalls(t *testing.T) {
	want := poolProbe{Name: "b", Inner: Raw(mustMarshal(t, map[string]any{"k": []any{"x", int64(1)}})), N: 7}
	good := mustMarshal(t, want)
	wrongType := mustMarshal(t, map[string]any{"name": "a", "inner": "x", "n": "not an int"})
	truncated := mustMarshal(t, map[string]any{"name": "a", "inner": map[string]any{"k": "vvvvvvvv"}, "n": 1})
	truncated = truncated[:bytes.Index(truncated, []byte("vvvv"))]
	list := mustMarshal(t, []any{"a", "b"})
	for round := range 50 {
		for _, bad := range [][]byte{truncated, wrongType, list} {
			var p poolProbe
			if err := unmarshal(bad, &p); err == nil {
				t.Fatalf("round %d: %x decoded without an error: %+v", round, bad, p)
			}
		}
		var got poolProbe
		if err := unmarshal(good, &got); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if got.Name != want.Name || got.N != want.N || !bytes.Equal(got.Inner, want.Inner) {
			t.Fatalf("round %d: decoded %+v, want %+v", round, got, want)
		}
		// A generic target after a typed one: no field table carried over.
		var m map[string]any
		if err := unmarshal(good, &m); err != nil || m["name"] != "b" || m["n"] != int64(7) {
			t.Fatalf("round %d: generic decode %v, %v", round, m, err)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := marshal(nil, v)
	if err != nil {
		t.Fatal(errors.Join(errors.New("marshal"), err))
	}
	return b
}
