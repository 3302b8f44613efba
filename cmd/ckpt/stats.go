package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
	"github.com/spf13/cobra"
)

func init() { register(newStatsCmd) }

func newStatsCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "stats FILE",
		Short: "Counts, bytes per bucket, and the space saved by sharing",
		Long: `stats reads the whole file and prints its size (on disk and used by
bbolt), the number of threads, checkpoints, pending writes and stored
channel values, the space saved by storing only the channels that changed
and by storing grown lists as appended items, and the keys and bytes of
each bucket. A thread whose records or pages are damaged is left out of
the figures, which are then the other threads': the line after them
names it, and the command exits 1 ('ckpt verify' says what is wrong,
'ckpt export --skip-damaged' saves the others).`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			st, err := s.Stats(c.Context())
			if err != nil {
				return err
			}
			// The file on disk is larger than what bbolt's pages reach: bbolt
			// grows it ahead of need. People compare with ls, so say both.
			onDisk := fileSize(args[0])
			// Damage confined to some threads (a read-only open goes on
			// past them): the figures are the others', the lost named.
			var damaged error
			if d := st.DamagedThreads; len(d) > 0 {
				damaged = fmt.Errorf("%s could not be read (%s, left out of the figures; 'ckpt verify' says what is wrong, "+
					"'ckpt export --skip-damaged' saves the others): %w", count(len(d), "thread", "threads"), quotedThreads(d), ckpt.ErrCorrupt)
			}
			if a.asJSON {
				j := *st
				j.DamagedThreads = jsonNames(st.DamagedThreads)
				if err := a.printJSON(struct {
					File        string `json:"file"`
					DiskBytes   int64  `json:"file_size_on_disk"`
					*ckpt.Stats        // its file_bytes: what bbolt's pages reach
				}{args[0], onDisk, &j}); err != nil {
					return err
				}
				return damaged
			}
			// The path heads the summary: as a row it would push the
			// figures' column as far right as the path is long.
			fmt.Fprintf(a.out, "%s: %s on disk (%d bytes)\n", args[0], humanBytes(onDisk), onDisk)
			var sum summary
			pages := int64(0)
			if st.PageSize > 0 {
				pages = st.FileBytes / int64(st.PageSize)
			}
			sum.row("used by bbolt\t%s\t%d pages of %d bytes, free pages included; the rest is room bbolt grew into ahead of need", humanBytes(st.FileBytes), pages, st.PageSize)
			if wal := fileSize(s.Path() + "-wal"); wal > 0 { // beside the file a link names
				sum.row("write-ahead log\t%s\t%s-wal: writes not yet applied to the file (a program has it open, or it crashed)", humanBytes(wal), args[0])
			}
			if keys := web.KeyIDs(st.SealedKeys); keys != "" {
				sum.row("encrypted\t%s\tvalues and pending writes are sealed: reading them needs the key (--key-file)", keys)
			}
			if d := len(st.DamagedThreads); d > 0 {
				sum.row("threads\t%d\t%d damaged, left out of every figure below: %s", st.Threads, d, quotedThreads(st.DamagedThreads))
			} else {
				sum.row("threads\t%d", st.Threads)
			}
			sum.row("checkpoints\t%d", st.Checkpoints)
			sum.row("pending writes\t%d", st.PendingWrites)
			sum.row("channel values\t%d\tstored", st.ChannelValues)
			sum.row("channel references\t%d\t%d of them share the parent's value (not stored again)", st.ChannelRefs, st.SharedRefs)
			if st.SealedUnsized > 0 {
				// Lists stored as deltas are sized by opening their
				// segments, which needs the keys.
				sum.row("saved by sharing\tunknown\tthe lists are sealed under a key not given (--key-file), and sizing them opens them")
				sum.row("list versions\t%d\tstored as append-deltas: %s", st.ListVersions, humanBytes(st.ListSegmentBytes))
				sum.row("saved by append-deltas\tunknown")
			} else {
				sum.row("saved by sharing\t%s\twhat storing every unchanged channel again would have taken", humanBytes(st.SharedBytes))
				sum.row("list versions\t%d\tstored as append-deltas: %s, whole they would take %s", st.ListVersions, humanBytes(st.ListSegmentBytes), humanBytes(st.ListWholeBytes))
				if st.DeltaSavedBytes < 0 {
					// Short lists: each delta record carries its own header and
					// checksum, which only longer lists make up for.
					sum.row("saved by append-deltas\tnone\tthe deltas take %s more than the whole lists would (they gain as lists grow)", humanBytes(-st.DeltaSavedBytes))
				} else {
					sum.row("saved by append-deltas\t%s", humanBytes(st.DeltaSavedBytes))
				}
			}
			sum.print(a.out)
			tw := a.table()
			fmt.Fprintln(tw)
			fmt.Fprintln(tw, "BUCKET\tKEYS\tBYTES (keys + values)\tWHAT IT HOLDS")
			var total int64
			for _, b := range st.Buckets {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", b.Name, b.Keys, humanBytes(b.Bytes), b.What)
				total += b.Bytes
			}
			fmt.Fprintf(tw, "total\t\t%s\t(the file adds page overhead and free pages)\n", humanBytes(total))
			if err := tw.Flush(); err != nil {
				return err
			}
			return damaged
		},
	}
	a.addJSON(c)
	return c
}

// summary is stats' first part: a name, a figure and a note a row, the
// figures and the notes each in one column. (A tabwriter aligns a column
// only over consecutive rows that have it, and some rows have no note.)
type summary struct{ rows [][3]string }

// row adds a row from "name\tfigure[\tnote]".
func (s *summary) row(format string, args ...any) {
	var r [3]string
	copy(r[:], strings.SplitN(fmt.Sprintf(format, args...), "\t", 3))
	s.rows = append(s.rows, r)
}

func (s *summary) print(w io.Writer) {
	var w0, w1 int
	for _, r := range s.rows {
		w0, w1 = max(w0, len(r[0])), max(w1, len(r[1]))
	}
	for _, r := range s.rows {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-*s  %-*s  %s", w0, r[0], w1, r[1], r[2]), " "))
	}
}
