package engine

// A full disk: which failures leave the store where it was, so that the
// write that did not fit fails alone (ErrDiskFull) instead of the store
// (failstop.go). Only a write(2), ftruncate(2) or fallocate(2) that found
// no room, before any fsync of what the failed write wrote, qualifies: its
// bytes never reached a state a crash or a later fsync could make durable
// as a group's (the callers make sure: Log.Append, boltCleanFull).

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// noSpace tells whether err is the system saying there is no room: the
// disk is full (ENOSPC), a quota is met (EDQUOT), or the file size limit
// (RLIMIT_FSIZE: EFBIG; SIGXFSZ ignored) is.
func noSpace(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG) {
		return true
	}
	return noSpaceOS(err)
}

// NoSpace is noSpace for the CLI, which words a failure for want of room
// (a full disk, a met quota, the file size limit, Windows' own disk-full
// errors) as such: one list of what counts, kept here.
func NoSpace(err error) bool { return noSpace(err) }

// diskFull marks err, a write's or a growth's failure that noSpace
// recognises, as ErrDiskFull; others are returned as they are.
func diskFull(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) || !noSpace(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrDiskFull, err)
}

// boltFull marks err, a bbolt commit's failure boltCleanFull accepted,
// as ErrDiskFull. Not diskFull: bbolt's resize error keeps the errno only
// as text, so errors.Is finds no ENOSPC or EFBIG in it, and the applier's
// and a NoWAL commit's errors then said neither "disk full" nor
// ErrDiskFull (the CLI's import under a file size limit exited 1 with
// everything imported).
func boltFull(err error) error {
	if errors.Is(err, ErrDiskFull) {
		return err
	}
	return fullErr(err, boltResizeError)
}

// boltResizeError is how bbolt v1.5.0's DB.grow reports a failed
// ftruncate ("file resize error: %s": formatted, so the errno is only in
// the text). Its fsync's failure reads "file sync error: ..." instead.
const boltResizeError = "file resize error: "

// boltCleanFull tells whether err, from a bbolt commit, is a failure for
// want of room that bbolt rolled back cleanly, leaving the committed state
// as it was (bbolt v1.5.0, tx.go Commit; reviewedBoltVersion):
//
//   - a page or meta page write (tx.write, tx.writeMeta: the *os.PathError
//     of WriteAt): Commit rolls back (Tx.rollback: the freelist is reloaded
//     from the committed meta's page, the pages the transaction allocated
//     go back). The pages written went to pages free in the committed
//     state (copy on write), never to a page it uses; their fdatasync, if
//     it ran, succeeded. A meta page's write goes to the slot of the older
//     meta, which the caller puts back (RevertMeta) in case its bytes
//     landed;
//   - the file's growth (DB.grow: the ftruncate, before its fsync and
//     before any page is written): rolled back the same way, the file's
//     length unchanged.
//
// bbolt's own failpoint for a full disk (lackOfDiskSpace, at the growth)
// rolls back the same way and its tests go on with the handle. A failed
// fdatasync (a bare errno from bbolt's fdatasync, or "file sync error") is
// not clean, nor is a failed mmap (the handle may have lost its map).
func boltCleanFull(err error) bool {
	if err == nil || !noSpace(err) && !strings.Contains(err.Error(), boltResizeError) {
		return false
	}
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Op == "write" {
		return noSpace(pe.Err)
	}
	_, ok := textErrno(err, boltResizeError)
	return ok
}

// textErrno returns the errno of noSpace's that err names only in its
// text, after one of bbolt's prefixes (its resize and sync errors are
// formatted with %s, keeping the errno as words only).
func textErrno(err error, prefixes ...string) (syscall.Errno, bool) {
	msg := err.Error()
	for _, prefix := range prefixes {
		i := strings.Index(msg, prefix)
		if i < 0 {
			continue
		}
		for _, e := range noSpaceErrnos() {
			if strings.Contains(msg[i+len(prefix):], e.Error()) {
				return e, true
			}
		}
	}
	return 0, false
}

// fullErr marks err, a failure for want of room, as ErrDiskFull, with
// the errno errors.Is finds where bbolt kept it as text only (textErrno),
// as ErrDiskFull promises.
func fullErr(err error, prefixes ...string) error {
	if !noSpace(err) {
		if e, ok := textErrno(err, prefixes...); ok {
			err = errnoText{err, e}
		}
	}
	return fmt.Errorf("%w: %w", ErrDiskFull, err)
}

// WriteFull marks err as ErrDiskFull when a file's creation, a write, an
// ftruncate, a fallocate, a rename or a link in it found no room (the
// *os.PathError or *os.LinkError of that call: a copy-on-write file
// system such as btrfs refuses even an empty file's creation or a rename
// when full; or bbolt's resize
// error, which keeps the errno as text): the failure of a call that wrote
// a file of its own (Open's new file, log or upgrade; Compact's new file;
// a backup's copy; an import's .import file) and leaves the store as it
// was. A failed fsync is left as it is (see noSpace's callers), and so is
// the store's fail-stop (ErrFailed), whatever write it names: that store
// does not go on once there is room.
func WriteFull(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) || errors.Is(err, ErrFailed) || !noRoom(err) {
		return err
	}
	return fullErr(err, boltResizeError)
}

// noRoom tells whether err is an open's (a creation's), write's,
// ftruncate's, fallocate's, rename's or link's failure for want of room
// (noSpace).
func noRoom(err error) bool {
	var pe *os.PathError
	if errors.As(err, &pe) {
		switch pe.Op {
		case "open", "write", "truncate", "fallocate":
			return noSpace(pe.Err)
		}
	}
	// A rename or link that found no room for the directory's change
	// (btrfs) changed nothing.
	var le *os.LinkError
	if errors.As(err, &le) && (le.Op == "rename" || le.Op == "link") {
		return noSpace(le.Err)
	}
	_, ok := textErrno(err, boltResizeError)
	return ok
}

// OwnFilesFull marks err as ErrDiskFull when it is, for want of room
// (noSpace, or bbolt's resize or sync error, which keep the errno only as
// text), the failure of an operation that wrote only files of its own
// and removes them when it fails: Compact before its rename, BackupFile
// before its copy is in place. Unlike WriteFull, a failed fsync counts
// too: the kernel may have dropped the pages it could not write, but they
// were the operation's own, in a file that is removed, never the store's,
// so the operation failed alone and the store goes on, as ErrDiskFull
// promises (a copy-on-write file system or a quota can find no room only
// at writeback, and the error said the errno alone). The fsync is not
// tried again: the operation fails. A failure of the store itself
// (ErrFailed: its own fsync, a commit of its file) is left as it is.
func OwnFilesFull(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) || errors.Is(err, ErrFailed) {
		return err
	}
	if _, ok := textErrno(err, boltResizeError, boltSyncError); ok || noSpace(err) {
		return fullErr(err, boltResizeError, boltSyncError)
	}
	return err
}

// boltSyncError is how bbolt v1.5.0's DB.grow reports its failed fsync
// ("file sync error: %s", as boltResizeError).
const boltSyncError = "file sync error: "

// errnoText is an error that names errno only in its text (bbolt's
// formatted errors): its words, and errors.Is finds errno.
type errnoText struct {
	err   error
	errno syscall.Errno
}

func (e errnoText) Error() string   { return e.err.Error() }
func (e errnoText) Unwrap() []error { return []error{e.err, e.errno} }
