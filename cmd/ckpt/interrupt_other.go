//go:build !unix

package main

import "os"

// resumeSignals: no signal resumes a paused command here (see
// interrupt_unix.go); it waits for Ctrl-C or its minute.
var resumeSignals []os.Signal
