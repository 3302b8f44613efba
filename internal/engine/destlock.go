package engine

import (
	"errors"
	"os"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// LockReplaced takes, without waiting, the lock a read-write Open takes on
// the file at path, for a caller about to rename another file over it
// (BackupFile). held reports that a store (read-write or read-only, in this
// process or another) has the file open: replacing it would leave that
// store writing to an unlinked file. Otherwise the caller keeps the lock
// until its rename is done and then calls release: an Open that waited on
// the lock meanwhile finds another file at the path and opens that one
// (OpenBolt). A missing or unreadable file, or a platform without flock,
// gives a release that does nothing.
func LockReplaced(path string) (release func(), held bool, err error) {
	noop := func() {}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return noop, false, nil // nothing to lock, or not ours to tell
		}
		return nil, false, err
	}
	locked, err := lockExclusive(f, time.Now()) // one try
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		_ = f.Close()
		return nil, true, nil
	case err != nil:
		_ = f.Close()
		return nil, false, err
	case !locked:
		_ = f.Close() // no flock here: an open file could keep the rename from working
		return noop, false, nil
	}
	// Closing the only descriptor of f releases its flock.
	return func() { _ = f.Close() }, false, nil
}
