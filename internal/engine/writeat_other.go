//go:build !unix

package engine

import "os"

// writeAt is f.WriteAt here (writeat_unix.go says why the log counts a
// partial write itself where it can).
func writeAt(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
