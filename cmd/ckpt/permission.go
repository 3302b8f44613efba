package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// writeOpenError is openError for a store a write command opens for
// writing (openWriteLook). The OS's "permission denied" alone read as if
// the file could not be read at all, where the read commands read it
// well: it says that this command writes to the file, or, for a file to
// create, that its directory is what refused. It wraps the OS error, so
// errors.Is finds fs.ErrPermission. import calls it for the new file it
// builds too.
func (a *app) writeOpenError(path string, err error) error {
	var pe *fs.PathError
	if !errors.As(err, &pe) || !errors.Is(pe.Err, fs.ErrPermission) {
		return a.openError(path, err)
	}
	// import builds a new file as FILE.import and links it into place:
	// refused, that sibling is the directory refusing FILE.
	sibling := pe.Path == path+".import"
	if pe.Path == path || sibling {
		_, serr := os.Lstat(path)
		// EPERM, not EACCES: open(2) says it for a file or directory
		// that refuses writing whatever its permission bits (immutable
		// or append-only, chattr +i or +a; a sealed file), root
		// included: asking for write permission sent the user to chmod.
		attrs := errors.Is(pe.Err, syscall.EPERM)
		switch {
		case attrs && serr == nil && !sibling:
			return fmt.Errorf("%s: %w (this command writes to it, and the file refuses writing whatever its permission bits: is it immutable or append-only? see lsattr; the read commands, such as log, show and export, still read it)", path, pe.Err)
		case attrs && (errors.Is(serr, fs.ErrNotExist) || sibling):
			return fmt.Errorf("%s: %w (%s refuses new files whatever its permission bits: is it immutable or append-only? see lsattr)", path, pe.Err, filepath.Dir(path))
		case serr == nil && !sibling:
			return fmt.Errorf("%s: %w (this command writes to it: it needs write permission on %s; the read commands, such as log, show and export, still read it)", path, pe.Err, path)
		case errors.Is(serr, fs.ErrNotExist) || sibling:
			return fmt.Errorf("%s: %w (creating it needs write permission in %s)", path, pe.Err, filepath.Dir(path))
		}
	}
	return a.openError(path, err)
}
