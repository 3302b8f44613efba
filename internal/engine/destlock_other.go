//go:build !unix

package engine

import "os"

// tryLockShared: outside unix bbolt locks the file its own way, which
// this cannot ask.
func tryLockShared(*os.File) (locked, held bool, err error) { return false, false, nil }

// tryLockExclusive: as tryLockShared.
func tryLockExclusive(*os.File) (locked, held bool, err error) { return false, false, nil }
