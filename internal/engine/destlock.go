package engine

import (
	"errors"
	"os"
)

// LockReplaced takes, without waiting, a shared lock on the file at path,
// for a caller about to rename another file over it (BackupFile). held
// reports that a store has the file open for writing (bbolt's exclusive
// lock, in this process or another): replacing it would leave that store
// writing to an unlinked file, and lose every write it acknowledges from
// then on. A store open read-only there (a shared lock) goes on reading the
// file it opened, which is harmless. The caller keeps the lock until its
// rename is done and then calls release: a read-write Open that waited on
// it meanwhile finds another file at the path and opens that one
// (OpenBolt). A missing or unreadable file, anything but a regular file,
// or a platform without flock, gives a release that does nothing.
func LockReplaced(path string) (release func(), held bool, err error) {
	noop := func() {}
	// Only a regular file can be a store. Anything else is replaced, not
	// opened: opening a FIFO for reading waits for a writer (for ever),
	// and a symlink's target is not what the rename replaces.
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, os.ErrPermission) {
			return nil, false, err
		}
		return noop, false, nil
	}
	// Looked at again once open, and opened without waiting: a FIFO
	// swapped in since the Lstat would hold the open for ever.
	f, _, err := openRegular(lockReplacedOpen, path, os.O_RDONLY, 0, false)
	if err != nil {
		if _, no := NotRegular(err); no || errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrPermission) {
			return noop, false, nil // nothing to lock, or not ours to tell
		}
		return nil, false, err
	}
	locked, held, err := tryLockShared(f)
	switch {
	case err != nil || held:
		_ = f.Close()
		return nil, held, err
	case !locked:
		_ = f.Close() // no flock here: an open file could keep the rename from working
		return noop, false, nil
	}
	// Closing the only descriptor of f releases its flock.
	return func() { _ = f.Close() }, false, nil
}

// lockReplacedOpen is LockReplaced's open (os.OpenFile); a test swaps
// the file at the path just before it.
var lockReplacedOpen = os.OpenFile

// HoldBuilt takes, without waiting, an exclusive lock on f, a file its
// caller built as a store, closed, and is about to link into place
// (ImportFile): while it holds it, another caller's LockReplaced sees the
// file held and leaves it alone. It then reports whether f is still the
// file at path: another caller may have taken it for a killed run's
// leftover and replaced it in the moment between the store's Close
// (bbolt's lock gone) and this lock. held: another holds f locked. The
// lock goes with f's Close; without flock there is none, and only the
// check is made.
func HoldBuilt(f *os.File, path string) (ours, held bool, err error) {
	if _, held, err := tryLockExclusive(f); err != nil || held {
		return false, held, err
	}
	have, err := f.Stat()
	if err != nil {
		return false, false, err
	}
	there, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return os.SameFile(have, there), false, nil
}
