package engine

import (
	"os"
	"syscall"
)

// Fdatasync flushes a file's data and the metadata needed to read it back
// (its size), not its timestamps: what bbolt uses on Linux too.
func Fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
