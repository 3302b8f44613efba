//go:build !unix

package engine

import "os"

// openNonblock: outside unix no file under a path waits to be opened.
const openNonblock = 0

// clearNonblock: nothing was set (openNonblock).
func clearNonblock(*os.File) error { return nil }
