//go:build unix

package engine

import (
	"os"

	"golang.org/x/sys/unix"
)

// namedHandle returns a handle on f's open file whose name is name, and
// closes f. Compact opens its new file as PATH.compact and renames it to
// PATH; bbolt keeps the handle for the store's life, and the system's
// errors name a file by its handle's name ("write PATH.compact: no space
// left on device"), a file gone since the rename. Named PATH from the
// start, they name the store's file (Compact's own errors, before the
// rename, name the temporary file: compactErr). The duplicate shares f's
// open file description, so nothing of the file changes.
func namedHandle(f *os.File, name string) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		_ = f.Close()
		return nil, &os.PathError{Op: "dup", Path: f.Name(), Err: err}
	}
	if err := f.Close(); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}
