//go:build !linux

package ckpt_test

import (
	"fmt"
	"os"
)

// h172Child: the strace fault hunt of h172_strace_linux_test.go runs on
// Linux only (strace).
func h172Child(string) int {
	fmt.Fprintln(os.Stderr, "h172: Linux only")
	return 1
}
