package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
next backup to DST. The copy is opened and verified (as ckpt verify does)
before it is renamed over DST: if that finds a problem (SRC is damaged),
the problems are listed, the copy is removed, DST is left as it was and
the exit status is 1.

A program that has the store open backs it up while it runs with
Store.BackupFile; this command is for a file no program holds.`,
		Args: argsBetween(2, 2),
		RunE: func(c *cobra.Command, args []string) (err error) {
			src, dst := args[0], args[1]
			if d := filepath.Dir(dst); !isDir(d) {
				// Else the error names the temporary file beside DST.
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
