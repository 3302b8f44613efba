//go:build unix

package engine

import (
	"os"
	"syscall"
)

// mapHead maps the log's first page to read its header without a
// syscall (overwrite.go); nil (read with pread) if it cannot.
func mapHead(f *os.File) []byte {
	m, err := syscall.Mmap(int(f.Fd()), 0, os.Getpagesize(), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil
	}
	return m
}

func unmapHead(m []byte) { _ = syscall.Munmap(m) }
