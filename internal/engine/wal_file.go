package engine

import (
	"fmt"
	"io/fs"
	"os"
)

// readLogFile reads the whole log file at path. One that is not a regular
// file is refused before it is opened: opening a named pipe for reading
// waits for a writer that may never come, in a system call no signal
// ends (every Open hung on a FIFO at the log's path, and every ckpt
// command with it), and a device such as /dev/zero never ends. A
// directory is left to the read, which says so.
func readLogFile(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() && !fi.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%s, not a file: a store's write-ahead log is a regular file (move it aside)", fileKind(fi.Mode()))}
	}
	return os.ReadFile(path)
}

// fileKind names the kind of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
