//go:build unix

package main

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user+sys) this process has used so far.
func processCPU() time.Duration {
	u := processUsage()
	return time.Duration(u.userNs + u.sysNs)
}

// processUsage is what this process has used so far (getrusage).
func processUsage() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{userNs: ru.Utime.Nano(), sysNs: ru.Stime.Nano(), minflt: ru.Minflt, majflt: ru.Majflt}
}
