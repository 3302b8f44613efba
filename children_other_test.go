//go:build !linux

package ckpt_test

import (
	"fmt"
	"os"
)

// The child roles of the full-disk and real-disk tests need Linux (tmpfs,
// RLIMIT_FSIZE, loop mounts); their tests exist only there. fileChild
// still names them, so elsewhere they say so and fail.

func diskChild(string) int    { return linuxOnlyChild("fulldisk") }
func rdChild(string) int      { return linuxOnlyChild("realdisk") }
func cutKillChild(string) int { return linuxOnlyChild("cutkill") }

func linuxOnlyChild(mode string) int {
	fmt.Fprintf(os.Stderr, "child mode %s runs on linux only\n", mode)
	return 1
}
