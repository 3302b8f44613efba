//go:build unix

package main

import (
	"os"
	"syscall"
)

// resumeSignals end the pause of pauseEnv without cancelling the command,
// so a test can run a second command while the first is provably in the
// middle of its work, and then let the first finish.
var resumeSignals = []os.Signal{syscall.SIGUSR1}
