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
next backup to DST. The copy is then opened and verified (as ckpt verify
does); the exit status is 1 if that finds a problem.

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
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			bar := a.progress(-1, "copying bytes")
			err = s.BackupFile(c.Context(), dst, ckpt.BackupProgress(func(written, total int64) {
				bar.set(written)
			}))
			bar.done()
			if err != nil {
				if err := resolveUsage(err); errors.As(err, new(usageError)) {
					return err // DST is the store or a directory
				}
				return withLeft(c.Context(), err, left)
			}
			copied, err := a.openRead(dst)
			if err != nil {
				return fmt.Errorf("backup: the copy %s does not open: %w", dst, err)
			}
			defer a.closeStore(copied, &err)
			rep, err := copied.Verify(c.Context(), ckpt.VerifyOptions{})
			if err != nil {
				return err
			}
			st, err := os.Stat(dst)
			if err != nil {
				return err
			}
			size := st.Size()
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
			if !rep.OK() {
				return fmt.Errorf("backup: the copy %s has %d problem(s)", dst, len(rep.Problems)+rep.Truncated)
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
