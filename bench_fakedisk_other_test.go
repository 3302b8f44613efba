//go:build !linux

package ckpt_test

import (
	"os"
	"time"
)

// fakeFsync stands in for the log's fdatasync with a sleep of d (on Linux
// a sleep in the kernel, as a real fsync blocks).
func fakeFsync(d time.Duration) func(*os.File) error {
	return func(*os.File) error { time.Sleep(d); return nil }
}

// processCPU is the process's CPU time where known (0: not measured).
func processCPU() time.Duration { return 0 }
