//go:build !unix

package main

import "os"

// dumpTempsLocked: no flock here, so no export can tell a killed export's
// temporary file from a running one's: leftovers stay (see
// dumplock_unix.go).
const dumpTempsLocked = false

func tryLockDump(*os.File) (bool, error) { return false, nil }
