//go:build !linux

package ckpt_test

import (
	"fmt"
	"os"
)

// h192Child: the fault pairs of h192_combo_linux_test.go run on Linux
// only (RLIMIT_FSIZE stands for a full disk).
func h192Child(string) int {
	fmt.Fprintln(os.Stderr, "h192: Linux only")
	return 1
}
