package main

import (
	"fmt"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newStatsCmd) }

func newStatsCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "stats FILE",
		Short: "Counts, bytes per bucket, and the space saved by storing only changed channels and list appends",
		Long: `stats reads the whole file and prints its size (on disk and used by
bbolt), the number of threads, checkpoints, pending writes and stored
channel values, the space saved by storing only the channels that changed
and by storing grown lists as appended items, and the keys and bytes of
each bucket.`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer closeStore(s, &err)
			st, err := s.Stats(c.Context())
			if err != nil {
				return err
			}
			// The file on disk is larger than what bbolt's pages reach: bbolt
			// grows it ahead of need. People compare with ls, so say both.
			onDisk := fileSize(args[0])
			if a.asJSON {
				return a.printJSON(struct {
					File        string `json:"file"`
					DiskBytes   int64  `json:"file_size_on_disk"`
					*ckpt.Stats        // its file_bytes: what bbolt's pages reach
				}{args[0], onDisk, st})
			}
			tw := a.table()
			fmt.Fprintf(tw, "file\t%s\t%s on disk (%d bytes)\n", args[0], humanBytes(onDisk), onDisk)
			pages := int64(0)
			if st.PageSize > 0 {
				pages = st.FileBytes / int64(st.PageSize)
			}
			fmt.Fprintf(tw, "used by bbolt\t%s\t%d pages of %d bytes, free pages included; the rest is room bbolt grew into ahead of need\n", humanBytes(st.FileBytes), pages, st.PageSize)
			if wal := fileSize(args[0] + "-wal"); wal > 0 {
				fmt.Fprintf(tw, "write-ahead log\t%s\t%s-wal: writes not yet applied to the file (a program has it open, or it crashed)\n", humanBytes(wal), args[0])
			}
			fmt.Fprintf(tw, "threads\t%d\n", st.Threads)
			fmt.Fprintf(tw, "checkpoints\t%d\n", st.Checkpoints)
			fmt.Fprintf(tw, "pending writes\t%d\n", st.PendingWrites)
			fmt.Fprintf(tw, "channel values\t%d stored\n", st.ChannelValues)
			fmt.Fprintf(tw, "channel references\t%d\t%d of them share the parent's value (not stored again)\n", st.ChannelRefs, st.SharedRefs)
			fmt.Fprintf(tw, "saved by sharing\t%s\twhat storing every unchanged channel again would have taken\n", humanBytes(st.SharedBytes))
			fmt.Fprintf(tw, "list versions\t%d\tstored as append-deltas: %s, whole they would take %s\n", st.ListVersions, humanBytes(st.ListSegmentBytes), humanBytes(st.ListWholeBytes))
			fmt.Fprintf(tw, "saved by append-deltas\t%s\n", humanBytes(st.DeltaSavedBytes))
			fmt.Fprintln(tw)
			fmt.Fprintln(tw, "BUCKET\tKEYS\tBYTES (keys + values)")
			var total int64
			for _, b := range st.Buckets {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", b.Name, b.Keys, humanBytes(b.Bytes))
				total += b.Bytes
			}
			fmt.Fprintf(tw, "total\t\t%s\t(the file adds page overhead and free pages)\n", humanBytes(total))
			return tw.Flush()
		},
	}
	a.addJSON(c)
	return c
}
