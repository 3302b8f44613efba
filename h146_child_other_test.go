//go:build !linux

package ckpt_test

import (
	"fmt"
	"os"
)

// h146Child: the fault chains of h146_chain_linux_test.go run on Linux
// only (a tmpfs to fill).
func h146Child(string) int {
	fmt.Fprintln(os.Stderr, "h146: Linux only")
	return 1
}
