//go:build unix

package engine

import (
	"errors"
	"os"
	"syscall"
)

// tryLockShared takes a shared flock on f if no one holds an exclusive
// one (held), in one try.
func tryLockShared(f *os.File) (locked, held bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, true, nil
	}
	return false, false, err
}

// tryLockExclusive is tryLockShared's exclusive lock.
func tryLockExclusive(f *os.File) (locked, held bool, err error) {
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, false, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, true, nil
	}
	return false, false, err
}
