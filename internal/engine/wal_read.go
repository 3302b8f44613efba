package engine

// Reading a log file whole, as the scan does: bounded first, since
// anything can lie beside a store file under its log's name.

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// maxLogFile bounds the length of a log file a store writes: its bound
// (maxLog), past which the next record starts a new pass, one record past
// it at the longest (maxRecordBody) with its padding and proofs, and the
// growth step, with room to spare (twice each). An earlier pass's length,
// kept after a rewind, is within it too.
const maxLogFile = maxLog + 2*walGrow + 2*(recHeader+maxRecordBody+8) + 4*proofAlign

// errNoLogFile is the error of a file under the log's name that no store
// wrote as its log: larger than any log (maxLogFile), or not a regular
// file (a FIFO would hold the read until a writer came).
type errNoLogFile struct{ why string }

func (e *errNoLogFile) Error() string { return e.why }

// readLogFile reads the log file at path whole. A file larger than any
// log a store writes, or not a regular file, is not read (errNoLogFile):
// read into memory, a file of any size under the log's name would end
// the process (an allocation the runtime cannot make is fatal, and no
// recover catches it), and a FIFO's open waits for a writer; a directory
// is no log either.
func readLogFile(path string) ([]byte, error) {
	// Opened, then looked at: a FIFO swapped in after a look at the path
	// held the open for ever (openRegular).
	f, fi, err := openRegular(os.OpenFile, path, os.O_RDONLY, 0, false)
	if no := (*errNotRegular)(nil); errors.As(err, &no) {
		return nil, &errNoLogFile{no.Error()}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > maxLogFile {
		return nil, &errNoLogFile{fmt.Sprintf("it is %d bytes long, more than any log a store writes (%d at most: its bound, and one record past it)",
			fi.Size(), int64(maxLogFile))}
	}
	data := make([]byte, fi.Size())
	n, err := io.ReadFull(f, data)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil // shorter now: what is there
	}
	return data[:n], err
}

// noLogFileDamage is the damage of a file under the log's name that
// readLogFile would not read (nil for any other error): not a log of this
// store, refused by every Open, and moved aside whole by recovery.
func noLogFileDamage(err error) *LogDamage {
	var no *errNoLogFile
	if !errors.As(err, &no) {
		return nil
	}
	return &LogDamage{Offset: 0, Foreign: true, Reason: "the file under the write-ahead log's name is not a log: " + no.why}
}
