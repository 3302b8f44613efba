//go:build !unix

package engine

import "os"

// unlockFile: outside unix, closing the file releases bbolt's lock.
func unlockFile(*os.File) error { return nil }
