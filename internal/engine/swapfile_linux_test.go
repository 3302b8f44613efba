package engine

import (
	"os"
	"syscall"
)

// swapFile makes the log's file handle act as f's file from now on and
// returns a new handle on the file it acted as before (a read-only file
// makes the next record's write fail, /dev/full finds it no room). It
// moves descriptors (dup3 of f's onto the handle's) and leaves the handle,
// which the commit loop and the syncer read with no lock, as it is: hooks
// call it from the syncer's fsync while the commit loop writes, and
// writing the handle there was a data race (-race failed TestProofSweep's
// LogFullForAWhile and SyncLogSlow rounds once, loaded).
func (l *Log) swapFile(f *os.File) (old *os.File) {
	own := int(l.f.Fd())
	fd, err := syscall.Dup(own)
	if err != nil {
		panic(err)
	}
	syscall.CloseOnExec(fd)
	if err := syscall.Dup3(int(f.Fd()), own, syscall.O_CLOEXEC); err != nil {
		panic(err)
	}
	return os.NewFile(uintptr(fd), l.path)
}
