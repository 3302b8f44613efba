//go:build unix

package engine

import (
	"os"
	"syscall"
)

// unlockFile releases bbolt's flock on f explicitly. Closing f alone does
// not: the lock lives until the last reference to the open file goes, and
// bbolt's memory map of the file is one (TestPoisonedStoreClosesAndReleasesTheFile).
func unlockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}
