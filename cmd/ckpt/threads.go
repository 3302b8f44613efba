package main

import (
	"fmt"
	"time"

	"github.com/ckpt-go/ckpt/web"
	"github.com/spf13/cobra"
)

func init() { register(newThreadsCmd) }

func newThreadsCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "threads FILE",
		Short: "List threads: namespaces, checkpoints, newest id and time, bytes",
		Long: `threads prints one line per thread of FILE, in thread id order: its
namespaces ((root) is the root graph's), its checkpoints and pending
writes, the id and time of its newest checkpoint in any namespace, and
its bytes (keys and values; the file adds page overhead). For an
encrypted store a line after the table names the keys it is sealed under
(--json prints the threads only; 'ckpt stats --json' has the key ids).`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			type row struct {
				Thread        string    `json:"thread"`
				Namespaces    []string  `json:"namespaces"`
				Checkpoints   int       `json:"checkpoints"`
				PendingWrites int       `json:"pending_writes"`
				NewestID      string    `json:"newest_id"`
				NewestTime    time.Time `json:"newest_time"`
				Bytes         int64     `json:"bytes"`
			}
			rows := []row{}
			tw := a.table()
			n := 0
			for info, err := range s.Threads(c.Context()) {
				if err != nil {
					return err
				}
				if n++; n == 1 && !a.asJSON {
					fmt.Fprintln(tw, "THREAD\tNAMESPACES\tCHECKPOINTS\tWRITES\tNEWEST\tTIME\tBYTES")
				}
				if a.asJSON {
					rows = append(rows, row{info.ThreadID, info.Namespaces, info.Checkpoints, info.PendingWrites, info.NewestID, a.when(info.NewestTime), info.Bytes})
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", info.ThreadID, joinNS(info.Namespaces), info.Checkpoints,
					info.PendingWrites, info.NewestID, a.fmtTime(info.NewestTime), humanBytes(info.Bytes))
			}
			if a.asJSON {
				return a.printJSON(rows)
			}
			if n == 0 {
				// A bare header reads like a broken table.
				_, err := fmt.Fprintf(a.out, "%s has no threads\n", args[0])
				return err
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			// Ids and metadata list without the key; the values need it.
			ids, err := s.SealedKeys(c.Context())
			if err != nil {
				return err
			}
			if keys := web.KeyIDs(ids); keys != "" {
				_, err = fmt.Fprintf(a.out, "\nencrypted: values and pending writes are sealed under %s\n", keys)
			}
			return err
		},
	}
	a.addJSON(c)
	return c
}
