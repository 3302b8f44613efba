//go:build unix

package engine

import (
	"os"
	"syscall"
)

// openNonblock opens a FIFO at once (its open for reading would wait for
// a writer); on a regular file it changes nothing.
const openNonblock = syscall.O_NONBLOCK

// clearNonblock puts a regular file opened with openNonblock back in
// blocking mode, as bbolt and the log's readers expect it.
func clearNonblock(f *os.File) error {
	c, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := c.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}
