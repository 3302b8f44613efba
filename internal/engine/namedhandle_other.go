//go:build !unix

package engine

import "os"

// namedHandle is the unix one's; here the handle keeps the name it was
// opened under (errors after a Compact name PATH.compact).
func namedHandle(f *os.File, _ string) (*os.File, error) { return f, nil }
