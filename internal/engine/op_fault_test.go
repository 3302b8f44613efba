//go:build linux || darwin

package engine

import (
	"errors"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
)

// TestOpFaultIsCorruptFromAnyFrame: a memory fault while an op runs is
// ErrCorrupt whichever frame took it (opPanic's fault case): a record's
// length that reaches past the mapped file faults in the runtime's copy
// (runtime.memmove), whose caller is the op's own code, not bbolt's, so
// inBolt alone would call it a bug ("write panicked"). The commit loop
// runs with faults as panics (run: SetPanicOnFault); a copy from a page
// just unmapped stands for the end of the map here.
func TestOpFaultIsCorruptFromAnyFrame(t *testing.T) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	page := syscall.Getpagesize()
	m, err := syscall.Mmap(-1, 0, page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip(err)
	}
	if err := syscall.Munmap(m); err != nil {
		t.Fatal(err)
	}
	err = safeApply(func(Writer) error {
		out := make([]byte, page)
		copy(out, m) // the op's own copy, from memory no longer mapped
		return nil
	}, nil)
	if !errors.Is(err, ErrCorrupt) || strings.Contains(err.Error(), "write panicked") {
		t.Fatalf("a fault in the op's copy: %v, want ErrCorrupt", err)
	}
}
