//go:build !unix

package main

import "time"

// processCPU is 0 where getrusage is not there: CPU figures read 0.
func processCPU() time.Duration { return 0 }

// processUsage is zero where getrusage is not there.
func processUsage() usage { return usage{} }
