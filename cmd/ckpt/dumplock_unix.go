//go:build unix

package main

import (
	"errors"
	"os"
	"syscall"
)

// dumpTempsLocked: an export holds an exclusive flock on its temporary
// file until the file is renamed into place or removed, so a later export
// to the same path can tell a killed export's leftover (no lock) from the
// file of one still running (locked), and remove only the first.
const dumpTempsLocked = true

// tryLockDump takes f's exclusive flock without waiting; false when another
// descriptor holds it.
func tryLockDump(f *os.File) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false, nil
		default:
			return false, err
		}
	}
}
