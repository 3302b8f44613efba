//go:build unix

package engine

import (
	"os"
	"syscall"
)

// writeAt writes b at off like f.WriteAt, but n counts every byte written
// when the write fails part-way: os.File.WriteAt returns 0 then (it drops
// the count of the pwrite that wrote part of b before the one that
// failed), and the log must know what reached the file: takeBack zeroes
// the header of a record cut short, which could otherwise read back
// whole, and extend counts the room its zeros took.
func writeAt(f *os.File, b []byte, off int64) (n int, err error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Pwrite(int(fd), b[n:], off+int64(n))
			if e == syscall.EINTR {
				continue
			}
			if m > 0 {
				n += m
			}
			if e != nil {
				werr = e
				return true
			}
			if m == 0 {
				werr = syscall.EIO // no progress and no error: never loop forever
				return true
			}
		}
		return true
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: err}
	}
	return n, nil
}
