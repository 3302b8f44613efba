//go:build !linux

package engine

import "os"

// swapFile replaces the log's file handle and returns the old one (a
// read-only handle makes the next record's write fail). Linux's moves
// descriptors instead (swapfile_linux_test.go): the tests that call it
// from the syncer's fsync while the commit loop writes need /dev/full.
func (l *Log) swapFile(f *os.File) (old *os.File) {
	old, l.f = l.f, f
	return old
}
