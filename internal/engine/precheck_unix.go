//go:build unix

package engine

import (
	"errors"
	"os"
	"syscall"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// forgetsCutNewFile: a read-write Open empties a new file's first pages
// cut short (newfile.go), under the lock only unix lets it take first.
const forgetsCutNewFile = true

// lockExclusive takes the flock bbolt's read-write Open takes on f, trying
// every 50 ms (as bbolt does) until deadline, then bbolt's ErrTimeout.
func lockExclusive(f *os.File, deadline time.Time) (bool, error) {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return false, err
		}
		if time.Now().After(deadline) {
			return false, berrors.ErrTimeout
		}
		time.Sleep(50 * time.Millisecond)
	}
}
