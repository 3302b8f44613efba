package ckpt

import (
	"errors"
	"testing"
	"time"
)

// msgpack v5.4.1 panics decoding nil into a struct field whose type has a
// decoding method (time.Time, a TextUnmarshaler): its decodeNilValue calls
// reflect's IsNil on a struct. A peer that writes null for a timestamp
// must get an error from Decode, not a panic across the API.
func TestDecodeNilIntoTimeFieldIsAnError(t *testing.T) {
	b := mustMarshal(t, map[string]any{"T": nil, "N": 1})
	var v struct {
		T time.Time
		N int
	}
	err := Raw(b).Decode(&v)
	if !errors.Is(err, ErrDecode) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("nil into a time.Time field: %v, want ErrDecode", err)
	}
	// The pooled decoders still decode after it.
	var m map[string]any
	if err := Raw(b).Decode(&m); err != nil || m["N"] != int64(1) {
		t.Fatalf("after: %v, %v", m, err)
	}
}
