//go:build linux || darwin

package ckpt_test

import (
	"syscall"
	"testing"
)

// offHeapBytes is n zero bytes in an anonymous private mapping outside the
// Go heap, unmapped when t ends, or nil when the OS refuses the mapping.
// The OS backs its pages with memory only once they are written; the Go
// heap, its garbage collector and the race detector's shadow never see it
// (the detector ignores accesses outside the heap and the data segments),
// so a 2 GiB value costs a test neither time nor heap.
func offHeapBytes(t *testing.T, n int) []byte {
	t.Helper()
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE|syscall.MAP_NORESERVE)
	if err != nil {
		t.Logf("no anonymous mapping of %d bytes (%v): the value goes on the Go heap", n, err)
		return nil
	}
	t.Cleanup(func() {
		if err := syscall.Munmap(b); err != nil {
			t.Errorf("munmap: %v", err)
		}
	})
	return b
}
