package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newCompactCmd) }

func newCompactCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "compact FILE",
		Short: "Rewrite the file without free pages: give space back to the disk",
		Long: `compact copies the live data into FILE.compact, fsyncs it, renames it over
FILE and fsyncs the directory. If it is interrupted at any point, FILE is
either the old file or the new one, whole. It needs free disk space for a
second copy of the live data, and the file must not be open elsewhere.`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			if err := checkFile(args[0]); err != nil {
				return err
			}
			// The file's size before the open: a file an earlier
			// Compact renamed into place without a durable name
			// (meta/swap-unsynced) is compacted by the open itself,
			// so Compact's own BytesBefore is already the small size
			// and the line said "0 B given back".
			var opened int64
			if fi, err := os.Stat(args[0]); err == nil {
				opened = fi.Size()
			}
			s, err := a.openWrite(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			bar := a.progress(-1, "copying keys")
			st, err := s.Compact(c.Context(), func(done, total int64) {
				bar.set(done)
			})
			bar.done()
			if re, ok := errors.AsType[*ckpt.ReplacedError](err); ok && !re.Durable {
				// It failed after the rename (the directory's fsync):
				// the new file is in place, and there is no .compact
				// left. The store failed, so nothing was written on
				// top of it: a power cut that undoes the rename
				// brings back the old file, with the same data.
				return withLeft(c.Context(), err, args[0]+" is the compacted file (the rename may not survive a power cut, which would bring back the old one, holding the same data)")
			} else if ok {
				// The rename is durable; what failed came after it
				// (the commit that clears the new file's mark: the
				// error says the next Open compacts again).
				return withLeft(c.Context(), err, args[0]+" is the compacted file, under a durable name")
			}
			if err != nil {
				return withLeft(c.Context(), err, args[0]+" left as it was, "+args[0]+".compact removed")
			}
			// The larger: applying a log the open found grows the file
			// (Compact's BytesBefore counts that), a recompaction on
			// the open shrinks it (the size before the open does).
			st.BytesBefore = max(st.BytesBefore, opened)
			if a.asJSON {
				return a.printJSON(struct {
					File        string `json:"file"`
					BytesBefore int64  `json:"file_bytes_before"`
					BytesAfter  int64  `json:"file_bytes_after"`
				}{args[0], st.BytesBefore, st.BytesAfter})
			}
			saved := st.BytesBefore - st.BytesAfter
			what := humanBytes(saved) + " given back"
			if saved < 0 {
				// A tight file (a fresh backup) gains the few pages a new
				// bbolt file starts with: not a negative saving.
				what = "grew by " + humanBytes(-saved) + ": there was no free space to give back"
			}
			_, err = fmt.Fprintf(a.out, "compacted %s: %s -> %s (%s)\n", args[0], humanBytes(st.BytesBefore), humanBytes(st.BytesAfter), what)
			return err
		},
	}
	a.addJSON(c)
	return c
}
