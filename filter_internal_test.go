package ckpt

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/saverkit"
)

// saverkit normalises a filter with its own msgpack round trip; it must
// give exactly the shapes the store's metadata decoder gives, or a filter
// would stop matching the metadata it was written from.
func TestKitFilterShapesAreStoredMetadataShapes(t *testing.T) {
	t.Parallel()
	type tagged struct {
		Name string `json:"name"`
		Age  int    `json:"age,omitempty"`
	}
	md := Metadata{
		"int": 3, "i8": int8(-4), "u16": uint16(9), "u64": uint64(math.MaxUint64), "uint": uint(5),
		"f32": float32(1.5), "f64": 2.25, "s": "x", "b": true, "nil": nil, "bytes": []byte("ab"),
		"map":    map[string]any{"k": []int{1, 2}, "deep": map[string]uint8{"z": 1}},
		"list":   []any{1, "a", 2.5},
		"struct": tagged{Name: "ann"},
		"time":   time.Unix(1700000000, 5).UTC(),
		"raw":    Raw{0x2a},
	}
	b, err := encodeMetadata(0, nil, md)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := decodeMetadata(0, nil, b)
	if err != nil {
		t.Fatal(err)
	}
	kit, err := saverkit.NormalizeFilter(md)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range stored {
		if !reflect.DeepEqual(kit[k], v) {
			t.Errorf("%s: kit gives %#v, the store decodes %#v", k, kit[k], v)
		}
	}
	if len(kit) != len(stored) {
		t.Errorf("kit gives %d keys, the store %d", len(kit), len(stored))
	}
	if !matchMetadata(stored, kit) {
		t.Errorf("metadata does not match the filter normalised from it")
	}
}
