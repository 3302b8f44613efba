package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newGCCmd) }

func newGCCmd(a *app) *cobra.Command {
	var keepLast int
	var maxAge, threadTTL time.Duration
	var dryRun bool
	c := &cobra.Command{
		Use:   "gc FILE [--keep-last N] [--max-age D] [--thread-ttl D] [--dry-run]",
		Short: "Delete old history by policy (last N, age, idle threads)",
		Long: `gc removes the checkpoints the policy selects, with their metadata,
pending writes and index entries, and the channel values no kept checkpoint
needs. The rules combine: --keep-last N keeps the newest N checkpoints of
every thread and namespace; --max-age D removes checkpoints older than D
(never the newest of a thread and namespace: a run goes on from it);
--thread-ttl D removes whole threads whose newest checkpoint is older
than D. Durations are Go durations (90m, 72h)
that may also use days and weeks (30d, 2w, 1d12h).
The freed pages are reused by new data; run 'ckpt compact' to shrink the
file itself.`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			p := ckpt.Policy{KeepLast: keepLast, MaxAge: maxAge, ThreadTTL: threadTTL, DryRun: dryRun}
			if keepLast < 0 || c.Flags().Changed("keep-last") && keepLast == 0 {
				return usageError{"gc: --keep-last must be 1 or more"}
			}
			if keepLast == 0 && maxAge == 0 && threadTTL == 0 {
				return usageError{"gc: give at least one of --keep-last, --max-age, --thread-ttl"}
			}
			open := a.openWrite
			var counted ckpt.GCStats
			if dryRun {
				open = a.openRead
			} else {
				// A policy that selects nothing must leave the file
				// byte-identical (an operator diffs backups), and a
				// read-write open alone changes it: what the policy
				// selects is counted first, on the read-only open
				// that checks the file, and the file is opened for
				// writing only if that finds something to delete.
				open = func(path string) (*ckpt.Store, error) {
					return a.openWriteLook(path, func(ro *ckpt.Store) (err error) {
						bar := a.progress(-1, "counting checkpoints to delete")
						dry := p
						dry.DryRun = true
						dry.Progress = func(sofar ckpt.GCStats) { bar.set(int64(sofar.Checkpoints)) }
						counted, err = ro.GC(c.Context(), dry)
						bar.done()
						if err == nil && counted.Threads+counted.Checkpoints+counted.Writes+counted.Blobs+counted.Segments == 0 {
							return errNoWrite
						}
						return err
					}, nil)
				}
				if err := checkFile(args[0]); err != nil {
					return err
				}
			}
			s, err := open(args[0])
			if errors.Is(err, errNoWrite) {
				return a.printGC(args[0], false, fileSize(args[0]), counted)
			}
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			before := fileSize(args[0])
			bar := a.progress(-1, "deleting checkpoints")
			p.Progress = func(sofar ckpt.GCStats) { bar.set(int64(sofar.Checkpoints)) }
			st, err := s.GC(c.Context(), p)
			bar.done()
			if err != nil {
				left := args[0] + " unchanged"
				if !dryRun {
					// GC commits in bounded transactions: what went before
					// the signal stays gone, and each kept checkpoint is whole.
					left = "what was deleted before stays deleted, " + args[0] + " is consistent (run gc again to finish)"
				}
				return withLeft(c.Context(), err, left)
			}
			return a.printGC(args[0], dryRun, before, st)
		},
	}
	c.Flags().Var(countFlag{&keepLast, "1 or more"}, "keep-last", "keep the newest N checkpoints of each thread and namespace")
	c.Flags().Var(durationFlag{&maxAge}, "max-age", "delete checkpoints older than this, e.g. 30d (never the newest of a thread and namespace)")
	c.Flags().Var(durationFlag{&threadTTL}, "thread-ttl", "delete whole threads idle longer than this, e.g. 12w")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "count what would be deleted, change nothing")
	a.addJSON(c)
	return c
}

// printGC prints what a run of gc on path deleted (would delete, dryRun),
// the file measuring before bytes before it.
func (a *app) printGC(path string, dryRun bool, before int64, st ckpt.GCStats) error {
	if a.asJSON {
		return a.printJSON(struct {
			File        string `json:"file"`
			DryRun      bool   `json:"dry_run"`
			BytesBefore int64  `json:"file_bytes_before"`
			BytesAfter  int64  `json:"file_bytes_after"`
			ckpt.GCStats
		}{path, dryRun, before, fileSize(path), st})
	}
	verb, freed := "deleted", "data freed"
	if dryRun {
		verb, freed = "would delete", "data it would free"
	}
	tw := a.table()
	fmt.Fprintf(tw, "%s\t%s, %s, %s, %s, %s\n", verb, count(st.Threads, "thread", "threads"),
		count(st.Checkpoints, "checkpoint", "checkpoints"), count(st.Writes, "pending write", "pending writes"),
		count(st.Blobs, "channel value", "channel values"), count(st.Segments, "list segment", "list segments"))
	fmt.Fprintf(tw, "%s\t%s\n", freed, humanBytes(st.BytesFreed))
	fmt.Fprintf(tw, "file\t%s before, %s after\t(freed pages are reused; 'ckpt compact' shrinks the file)\n", humanBytes(before), humanBytes(fileSize(path)))
	return tw.Flush()
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}
