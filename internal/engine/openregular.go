package engine

// Opening a file that must be a regular one (a store file, a log) by
// what it is once open: a check of the path before the open (os.Stat)
// says what was there a moment before, and a FIFO swapped in meanwhile
// held the open, or the first read, for ever.

import (
	"fmt"
	"os"
)

// errNotRegular is the error of a file that is no regular file.
type errNotRegular struct{ kind string }

func (e *errNotRegular) Error() string { return "it is " + e.kind + ", not a regular file" }

// openRegular opens name through open (os.OpenFile's signature) without
// waiting (openNonblock), and returns it with its os.FileInfo only if it
// is a regular file (or a directory, with dirToo: its use fails on its
// own): anything else is closed unread (*errNotRegular).
func openRegular(open func(string, int, os.FileMode) (*os.File, error), name string, flag int, perm os.FileMode, dirToo bool) (*os.File, os.FileInfo, error) {
	f, err := open(name, flag|openNonblock, perm)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() && !(dirToo && fi.IsDir()) {
		_ = f.Close()
		return nil, nil, &errNotRegular{FileKind(fi.Mode())}
	}
	if err == nil {
		err = clearNonblock(f)
	}
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, fi, nil
}
