package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newBackupCmd) }

func newBackupCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "backup SRC DST",
		Short: "Copy a store at rest (with its -wal) into one file and verify it",
		Long: `backup opens SRC read-only and writes a complete copy of it to DST: one
file that opens on its own, with whatever a crashed program left in
SRC-wal written into it. The copy goes to a temporary file beside DST
(DST.ckpt-backup-*.tmp), is fsync'd and renamed over DST, so DST is never
a partial copy; a temporary file a killed backup left is removed by the
next backup to DST. A DST that is a symbolic link is the file it names:
the copy replaces that file, beside it, and the link stays. The copy is
opened and verified (as ckpt verify does) before it is renamed over DST:
if that finds a problem (SRC is damaged), the problems are listed, the
copy is removed, DST is left as it was and the exit status is 1.

A program that has the store open backs it up while it runs with
Store.BackupFile; this command is for a file no program holds.`,
		Args: argsBetween(2, 2),
		RunE: func(c *cobra.Command, args []string) (err error) {
			src, dst := args[0], args[1]
			// A link is the file it names (BackupFile): its directory is
			// where the copy goes, and the library's errors name it; the
			// line names DST as typed, the target beside it.
			target := linkTarget(dst)
			if d := filepath.Dir(target); !isDir(d) {
				// Else the error names the temporary file beside DST.
				if target != dst {
					// The link is there: it stays.
					return fmt.Errorf("backup to %s: no directory %s; %s left as it was", asTyped(dst, target), d, dst)
				}
				return fmt.Errorf("backup to %s: no directory %s", dst, d)
			}
			// BackupFile renames a whole copy over DST or removes it: a
			// failure leaves DST as it found it.
			left := "no " + dst + " written"
			if _, err := os.Lstat(dst); err == nil {
				left = dst + " left as it was"
			}
			s, err := a.openRead(src)
			if errors.Is(err, ckpt.ErrLocked) {
				// Stopping the agent is not the only way (docs/backup.md).
				return fmt.Errorf("%w; or back it up from inside that program with Store.BackupFile, which copies it while it runs", err)
			}
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			bar := a.progress(-1, "copying bytes")
			// The copy is verified before it goes in place: a damaged SRC
			// makes a damaged copy, and verified only after the rename it
			// would have replaced an earlier whole backup at DST.
			var rep *ckpt.VerifyReport
			var size int64
			err = s.BackupFile(c.Context(), dst, ckpt.BackupProgress(func(written, total int64) {
				bar.set(written)
			}), ckpt.BackupCheck(func(tmp string) (err error) {
				bar.done()
				if st, err := os.Stat(tmp); err == nil {
					size = st.Size()
				}
				copied, err := a.openRead(tmp)
				if err != nil {
					return fmt.Errorf("the copy does not open: %w", err)
				}
				defer a.closeStore(copied, &err)
				if rep, err = copied.Verify(c.Context(), ckpt.VerifyOptions{}); err != nil {
					return err
				}
				if !rep.OK() {
					return fmt.Errorf("%w: %s is damaged: its copy has %s (listed above; `ckpt verify %s` lists them too)",
						ckpt.ErrCorrupt, src, count(len(rep.Problems)+rep.Truncated, "problem", "problems"), src)
				}
				return nil
			}))
			bar.done()
			if err != nil && target != dst {
				err = textError{strings.ReplaceAll(err.Error(), "backup to "+target+":", "backup to "+asTyped(dst, target)+":"), err}
			}
			err = backupTempError(dst, target, err)
			if err != nil {
				if err := resolveUsage(err); errors.As(err, new(usageError)) {
					return err // DST is the store or a directory
				}
				if rep != nil && !rep.OK() {
					if a.asJSON {
						_ = a.printJSON(struct {
							Source      string             `json:"source"`
							Destination string             `json:"destination"`
							OK          bool               `json:"ok"`
							Verify      *ckpt.VerifyReport `json:"verify"`
						}{src, dst, false, rep})
					} else {
						printVerify(a, src, rep)
					}
				}
				if re, ok := errors.AsType[*ckpt.ReplacedError](err); ok {
					// It failed after the copy was put in place (the
					// directory's fsync), as the library says: only a
					// whole, verified copy gets there, and the line
					// must not say it is not.
					undo := "no " + dst + " would be there"
					if re.Earlier {
						undo = "the earlier " + dst + " would be there again"
					}
					left = dst + " is the copy, whole and verified (a power cut may undo that: " + undo + ")"
				}
				return withLeft(c.Context(), err, left)
			}
			if a.asJSON {
				if err := a.printJSON(struct {
					Source      string             `json:"source"`
					Destination string             `json:"destination"`
					Bytes       int64              `json:"bytes"`
					OK          bool               `json:"ok"`
					Verify      *ckpt.VerifyReport `json:"verify"`
				}{src, dst, size, rep.OK(), rep}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.out, "backed up %s to %s (%s)\n", src, dst, humanBytes(size))
				printVerify(a, dst, rep)
			}
			return nil
		},
	}
	a.addJSON(c)
	return c
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// linkTarget is the file path names when it is a symbolic link (followed
// to the end, relative targets from the link's directory, as
// Store.BackupFile does), else path.
func linkTarget(path string) string {
	p := path
	for range 41 { // the kernel follows 40
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			return p
		}
		to, err := os.Readlink(p)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(to) {
			d, err := filepath.EvalSymlinks(filepath.Dir(p))
			if err != nil {
				return path
			}
			to = filepath.Join(d, to)
		}
		p = to
	}
	return path // a loop: the library says so
}

// asTyped names a destination as the user typed it, and the file it
// links to when that differs.
func asTyped(typed, target string) string {
	if typed == target {
		return typed
	}
	return typed + " (a link to " + target + ")"
}

// textError is err said in other words: errors.Is and errors.As still
// find what err wraps.
type textError struct {
	msg string
	err error
}

func (e textError) Error() string { return e.msg }
func (e textError) Unwrap() error { return e.err }

// backupTempError says in export -o's words a copy that could not be
// created beside DST: the library's error names the temporary file
// (DST.ckpt-backup-NNN.tmp) in Go's words, "open DIR/...tmp: permission
// denied", a file nobody named, where DST's directory is what refused.
// Any other error is returned as it is.
func backupTempError(dst, target string, err error) error {
	pe, ok := errors.AsType[*fs.PathError](err)
	if !ok || pe.Op != "open" || pe.Path == target || filepath.Dir(pe.Path) != filepath.Dir(target) ||
		!strings.Contains(filepath.Base(pe.Path), ".ckpt-backup-") {
		return err
	}
	return textError{fmt.Sprintf("backup to %s: %s takes no new file (%v)", asTyped(dst, target), filepath.Dir(target), pe.Err), err}
}
