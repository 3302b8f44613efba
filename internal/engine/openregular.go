package engine

// Opening a file that must be a regular one (a store file, a log) by
// what it is once open: a check of the path before the open (os.Stat)
// says what was there a moment before, and a FIFO swapped in meanwhile
// held the open, or the first read, for ever.

import (
	"errors"
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

// OpenRegular is openRegular for a caller outside the engine that looked
// at name by its path and now opens it to read it (the CLI's look at a
// file's first bytes, its sweep of an export's leftovers): open is
// os.OpenFile or a test's seam. A file that is no regular one once open
// gives an error for which NotRegular tells its kind.
func OpenRegular(open func(string, int, os.FileMode) (*os.File, error), name string) (*os.File, os.FileInfo, error) {
	return openRegular(open, name, os.O_RDONLY, 0, false)
}

// NotRegular reports the kind of file ("a named pipe (FIFO)") an error of
// OpenRegular says name is, instead of a regular file.
func NotRegular(err error) (kind string, ok bool) {
	var no *errNotRegular
	if errors.As(err, &no) {
		return no.kind, true
	}
	return "", false
}
