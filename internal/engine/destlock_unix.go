//go:build unix

package engine

import (
	"errors"
	"os"
	"syscall"
)

// tryLockShared takes a shared flock on f if no one holds an exclusive
// one (held), in one try.
func tryLockShared(f *os.File) (locked, held bool, err error) { return tryFlock(f, syscall.LOCK_SH) }

// tryLockExclusive is tryLockShared's exclusive lock.
func tryLockExclusive(f *os.File) (locked, held bool, err error) { return tryFlock(f, syscall.LOCK_EX) }

// tryFlock takes the flock how on f in one try; held: another holds one
// that excludes it.
func tryFlock(f *os.File, how int) (locked, held bool, err error) {
	err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, true, nil
	}
	return false, false, err
}
