package ckpt

// EncodeValueForBench exposes the value encoder to the external test
// package, for the encode benchmark in bench_test.go. (Named apart from
// any exported encoder, so the benchmark builds with or without one.)
func EncodeValueForBench(v any) (Raw, error) { return encodeValue("value", v) }
