package ckpt

// BackupFile's destination: its checks, the temporary files beside it, placing the copy; kept apart from backup.go's snapshot and copy.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// placeCopy puts the whole copy tmp at path, linking with link (os.Link
// unless a test says otherwise). The lock BackupFile took at
// the start covers only a file that was there then: a store that creates
// path and opens it for writing during the copy holds a file no one
// locked, and a rename would leave it writing to an unlinked file. So the
// copy goes in by a hard link, which never replaces a file: if path is
// free, the copy is there at once and the temporary name goes (a crash in
// between leaves it for the next backup's cleanup; path is already
// whole). If something is at path, it is checked as at the start (a store
// open for writing there refuses the backup) and replaced under that
// check's lock. A filesystem without hard links gets the same check, then
// the rename: only a store that creates path between the two can still be
// renamed over. (A placeholder file taken at the start would leave an
// empty file at path after a crash, which a later Open takes for a new,
// empty store.) A log beside path is looked for again before each way in
// (refuseDestLog): a store opened at path during the copy may have left one.
// replaced says the copy went in by the rename, over a file that was at
// path (a power cut that undoes it brings that file back).
func placeCopy(tmp, path string, link func(oldname, newname string) error) (replaced bool, _ error) {
	if err := refuseDestLog(path); err != nil {
		return false, err
	}
	err := link(tmp, path)
	if err == nil {
		_ = os.Remove(tmp)
		return false, nil
	}
	unlock, held, err := engine.LockReplaced(path)
	if err != nil {
		return false, err
	}
	if held {
		return false, fmt.Errorf("%w: a store opened that file for writing during the copy (%w)", ErrInvalidConfig, ErrLocked)
	}
	defer unlock()
	// Under the lock: a store that opens path for writing now waits for
	// the rename, and one that crashed there meanwhile left its log.
	if err := refuseDestLog(path); err != nil {
		return false, err
	}
	// The link failed on a file at path, or on a file system without
	// hard links: which, only the rename can tell.
	_, lerr := os.Lstat(path)
	if err := os.Rename(tmp, path); err != nil {
		return false, err
	}
	return lerr == nil, nil
}

// linkFile is how BackupFile links its copy into place: os.Link, or the
// test's seam.
func (s *Store) linkFile() func(oldname, newname string) error {
	if s.tune.linkFile != nil {
		return s.tune.linkFile
	}
	return os.Link
}

// errBackupTempGone: a backup's temporary file was removed (or replaced)
// under it, by another backup to the same destination that took it for a
// killed backup's leftover. That backup fails; the other one goes on.
var errBackupTempGone = errors.New("the copy's temporary file was removed meanwhile (by another backup to the same destination?)")

// sayCopy is err with the copy's temporary name (tmp, hidden beside the
// destination, and removed once the backup failed) said as "the copy" in
// its text: the message already names the destination the user gave.
// errors.Is and errors.As still find what err wraps.
func sayCopy(err error, tmp string) error {
	if err == nil || !strings.Contains(err.Error(), tmp) {
		return err
	}
	return textError{strings.ReplaceAll(err.Error(), tmp, "the copy"), err}
}

// sayTemp is err, a failure of the temporary copy in dir named tmp, with
// that name said as "the temporary copy in dir" (tmp "": the copy could
// not be created, and the OS error names the file it tried). errors.Is
// and errors.As still find what err wraps.
func sayTemp(err error, dir, tmp string) error {
	var pe *fs.PathError
	if tmp == "" && errors.As(err, &pe) {
		tmp = pe.Path
	}
	what := "the temporary copy in " + dir
	if tmp == "" || !strings.Contains(err.Error(), tmp) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return textError{strings.ReplaceAll(err.Error(), tmp, what), err}
}

// stillAt tells, as an error, whether the file at path is f.
func stillAt(f *os.File, path string) error {
	want, err := f.Stat()
	if err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err != nil || !os.SameFile(fi, want) {
		return errBackupTempGone
	}
	return nil
}

// checkBackupDest refuses destinations whose replacement would harm a
// store: this one's file or log, or a file with a log beside it.
func (s *Store) checkBackupDest(path string) error {
	if path == "" {
		return fmt.Errorf("%w: backup: the destination path is empty", ErrInvalidConfig)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("%w: backup to %s: that is a directory", ErrInvalidConfig, path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("ckpt: backup to %s: %w", path, err)
	}
	dst, dstErr := os.Stat(path)
	for _, own := range []string{s.path, s.path + walSuffix} {
		ownAbs, err := filepath.Abs(own)
		same := err == nil && ownAbs == abs
		if fi, err := os.Stat(own); err == nil && dstErr == nil && os.SameFile(fi, dst) {
			same = true
		}
		if same {
			return fmt.Errorf("%w: backup to %s: that is the store's own file or log", ErrInvalidConfig, path)
		}
	}
	if err := refuseDestLog(path); err != nil {
		return fmt.Errorf("ckpt: backup to %s: %w", path, err)
	}
	return nil
}

// refuseDestLog refuses a destination with a write-ahead log beside it: a
// store is open there or crashed there, and the copy put at path would be
// read together with that foreign log at the next Open. BackupFile checks
// at the start and again right before the copy goes in (placeCopy), since
// a store can be opened at path, and crash, while the copy is written.
func refuseDestLog(path string) error {
	if _, err := os.Lstat(path + walSuffix); err == nil {
		return fmt.Errorf("%w: a write-ahead log (%s) lies beside it, so a store is open there or crashed there; the copy would be read with that log", ErrInvalidConfig, filepath.Base(path+walSuffix))
	}
	return nil
}

const (
	backupTempInfix  = ".ckpt-backup-"
	backupTempSuffix = ".tmp"
)

// isBackupTemp tells whether name is the temporary file of a backup to a
// destination named base.
func isBackupTemp(base, name string) bool {
	rest, ok := strings.CutPrefix(name, base+backupTempInfix)
	return ok && strings.HasSuffix(rest, backupTempSuffix)
}

// removeBackupLeftovers removes the temporary files that killed backups to
// base left in dir.
func removeBackupLeftovers(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return // CreateTemp reports what is wrong with dir
	}
	for _, e := range entries {
		if e.Type().IsRegular() && isBackupTemp(base, e.Name()) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
