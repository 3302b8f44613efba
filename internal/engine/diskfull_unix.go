//go:build !windows

package engine

import "syscall"

func noSpaceOS(error) bool { return false }

func noSpaceErrnos() []syscall.Errno {
	return []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EFBIG}
}
