package engine

import (
	"os"

	"golang.org/x/sys/unix"
)

// fileID tells files apart: their device and inode numbers.
type fileID struct {
	devMajor, devMinor uint32
	ino                uint64
}

// idOfFile and idAtPath ask statx for the inode number alone, never the
// times: a look at a file's mtime or ctime makes its next write take a
// fine-grained time and dirty the inode (held_files.go).
func idOfFile(f *os.File) (fileID, error) {
	var st unix.Statx_t
	if err := unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_INO, &st); err != nil {
		return fileID{}, &os.PathError{Op: "statx", Path: f.Name(), Err: err}
	}
	return fileID{st.Dev_major, st.Dev_minor, st.Ino}, nil
}

func idAtPath(path string) (fileID, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_INO, &st); err != nil {
		return fileID{}, &os.PathError{Op: "statx", Path: path, Err: err}
	}
	return fileID{st.Dev_major, st.Dev_minor, st.Ino}, nil
}

func (a fileID) same(b fileID) bool { return a == b }
