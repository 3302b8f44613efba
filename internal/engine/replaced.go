package engine

import "errors"

// ErrNotDurable: an operation put its new file at a path (a rename or a
// link: every read of the path finds the new file), then the fsync of
// the directory that makes that name durable failed. A power cut, even
// one long after, may undo the rename and bring back what was at the
// path before (or nothing). The root package re-exports it; ReplacedError
// carries it.
var ErrNotDurable = errors.New("ckpt: the new file is in place, but its name may not survive a power cut")

// ReplacedError is returned (wrapped) by an operation that failed after
// its new file was put at Path (Compact, BackupFile): the file at Path
// is the new one, whole. Its text is Err's. errors.Is(err, ErrNotDurable)
// holds when the directory's fsync after the rename failed (Durable
// false); when it succeeded, the name is durable and what failed came
// after it (Compact: the commit that clears the new file's
// meta/swap-unsynced mark, or the close of the old file).
type ReplacedError struct {
	Path    string // the file now at Path is the operation's new file
	Earlier bool   // a file was at Path before: a power cut that undoes the rename brings it back (else none would be there)
	Durable bool   // the directory's fsync after the rename succeeded
	Err     error  // what failed
}

func (e *ReplacedError) Error() string { return e.Err.Error() }

// Unwrap gives what failed, for errors.Is and errors.As.
func (e *ReplacedError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotDurable) true while the name is not
// durable.
func (e *ReplacedError) Is(target error) bool { return target == ErrNotDurable && !e.Durable }
