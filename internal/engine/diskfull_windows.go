//go:build windows

package engine

import (
	"errors"
	"syscall"
)

// Windows reports a full disk as ERROR_DISK_FULL or ERROR_HANDLE_DISK_FULL,
// which syscall's ENOSPC (an invented value there) does not match.
const (
	errorHandleDiskFull syscall.Errno = 39
	errorDiskFull       syscall.Errno = 112
)

func noSpaceOS(err error) bool {
	return errors.Is(err, errorDiskFull) || errors.Is(err, errorHandleDiskFull)
}

func noSpaceErrnos() []syscall.Errno {
	return []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG, errorDiskFull, errorHandleDiskFull}
}
