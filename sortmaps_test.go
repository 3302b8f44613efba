package ckpt

import (
	"bytes"
	"fmt"
	"testing"
)

// A map msgpack does not sort is encoded in the order of the maps it
// sorts (a map[string]int as the map[string]any of the same entries);
// a value without one keeps its bytes (a struct's fields in their order).
func TestSortedMapsEncodeAsTheSortedEncoders(t *testing.T) {
	ints, anys := map[string]int{}, map[string]any{}
	for i := range 40 {
		k := fmt.Sprint(i%7, "k", i) // keys of several lengths
		if i%5 == 0 {
			k = fmt.Sprintf("%0*d", 40, i) // over a fixstr
		}
		ints[k], anys[k] = i, i
	}
	want, err := encodeValue("v", anys)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		got, err := encodeValue("v", ints)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("map[string]int encoded %x (%v), the map[string]any of it %x", got, err, want)
		}
	}
	type s struct{ B, A int }
	plain, err := marshal(nil, s{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := encodeValue("v", s{1, 2}); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("struct encoded %x (%v), msgpack %x", got, err, plain)
	}
	a, _ := encodeValue("v", map[int]string{3: "c", 1: "a", 2: "b", 10: "x"})
	for range 5 {
		if b, _ := encodeValue("v", map[int]string{10: "x", 2: "b", 1: "a", 3: "c"}); !bytes.Equal(a, b) {
			t.Fatalf("map[int]string encoded %x and %x", a, b)
		}
	}
}
