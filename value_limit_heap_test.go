//go:build !linux && !darwin

package ckpt_test

import "testing"

// offHeapBytes is nil here: the value goes on the Go heap
// (value_limit_mmap_test.go maps it outside the heap on Linux and macOS).
func offHeapBytes(*testing.T, int) []byte { return nil }
