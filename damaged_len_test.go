package ckpt

import (
	"errors"
	"runtime"
	"testing"
)

// A damaged length field (a list or map header whose count a flipped
// byte made 16 million, a bin or str of 256 MiB) is ErrCorrupt for every kind of target, without
// allocating for the count it claims: msgpack's Decoder sizes a typed
// slice by the header alone (v5.4.1 ignores its own alloc limit there),
// so 100 bytes claiming 16M messages cost 512 MB before the EOF.
func TestDamagedLengthIsCorruptNotHuge(t *testing.T) {
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	good := mustMarshal(t, []msg{{"user", "hi"}, {"assistant", "hello"}, {"user", "bye"}})
	goodMap := mustMarshal(t, map[string]any{"a": "x", "b": "y"})
	if good[0] != 0x93 || goodMap[0] != 0x82 {
		t.Fatalf("headers %x %x: want fixarray 3, fixmap 2", good[0], goodMap[0])
	}
	// array32 / map32 of 1<<24 items, then the rest of the value.
	list := append([]byte{0xdd, 0x01, 0x00, 0x00, 0x00}, good[1:]...)
	mp := append([]byte{0xdf, 0x01, 0x00, 0x00, 0x00}, goodMap[1:]...)
	// Nested: the second message's map claims 16M pairs.
	nested := append([]byte{0x92}, mustMarshal(t, msg{"user", "hi"})...)
	nested = append(append(nested, 0xdf, 0x01, 0x00, 0x00, 0x00), mustMarshal(t, msg{"a", "b"})[1:]...)
	targets := map[string]func() any{
		"[]struct":          func() any { return new([]msg) },
		"[]string":          func() any { return new([]string) },
		"[]any":             func() any { return new([]any) },
		"any":               func() any { return new(any) },
		"map[string]any":    func() any { return new(map[string]any) },
		"map[string]string": func() any { return new(map[string]string) },
		"struct":            func() any { return new(msg) },
		"[]byte":            func() any { return new([]byte) },
		"string":            func() any { return new(string) },
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"list", list}, {"map", mp}, {"nested", nested},
		// A bin and a str whose 32-bit length claims 256 MiB.
		{"bin", []byte{0xc6, 0x10, 0x00, 0x00, 0x00, 'a', 'b'}},
		{"str", []byte{0xdb, 0x10, 0x00, 0x00, 0x00, 'a', 'b'}},
	} {
		for tn, target := range targets {
			v := target()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			err := Raw(c.b).Decode(v)
			runtime.ReadMemStats(&m1)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s into %s: %v, want ErrCorrupt", c.name, tn, err)
			}
			// The value is under 100 bytes: a decode that fails on it has
			// no business allocating megabytes (the bound leaves room for
			// other goroutines of the test process; the damage cost 16 MB
			// to 1.3 GB each).
			if n := m1.TotalAlloc - m0.TotalAlloc; n > 8<<20 {
				t.Errorf("%s into %s: allocated %d bytes for a %d-byte value", c.name, tn, n, len(c.b))
			}
		}
	}
}
