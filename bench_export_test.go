package ckpt

// EncodeValue exposes the value encoder to the external test package, for
// the encode benchmark in bench_test.go.
func EncodeValue(v any) (Raw, error) { return encodeValue("value", v) }
