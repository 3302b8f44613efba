package main

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/web"
	"github.com/spf13/cobra"
)

func init() { register(newThreadsCmd) }

func newThreadsCmd(a *app) *cobra.Command {
	var newest int
	var prefix string
	c := &cobra.Command{
		Use:   "threads FILE",
		Short: "List threads: namespaces, checkpoints, newest id and time, bytes",
		Long: `threads prints one line per thread of FILE, in thread id order: its
namespaces ((root) is the root graph's), its checkpoints and pending
writes, the id and time of its newest checkpoint in any namespace, and
its bytes (keys and values; the file adds page overhead). A thread whose
records or pages are damaged is listed as damaged (--json: its "damaged"
field says why) and the others as usual; the command then exits 1,
saying how many it could not read. For an
encrypted store a line after the table names the keys it is sealed under
(--json prints an array of the threads only: the keys are the store's,
not a thread's, and 'ckpt stats --json' has them as sealed_keys).`,
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
				// Damaged: why the thread could not be read (its other
				// fields are then what could be).
				Damaged string `json:"damaged,omitempty"`
			}
			if newest < 0 {
				return usageError{fmt.Sprintf("--newest %d: want a count, 0 for every thread", newest)}
			}
			rows := []row{}
			tw := a.table()
			n := 0
			infos, damaged := selectThreads(c.Context(), s, prefix, newest)
			var lost []string
			var lostErr error
			for info, err := range infos {
				if err != nil && info.ThreadID == "" {
					return err
				}
				if n++; n == 1 && !a.asJSON {
					fmt.Fprintln(tw, "THREAD\tNAMESPACES\tCHECKPOINTS\tWRITES\tNEWEST\tTIME\tBYTES")
				}
				if err != nil {
					// A thread damage confines to itself (Threads goes on
					// past it): its row says so, the others are listed.
					if lost = append(lost, info.ThreadID); lostErr == nil {
						lostErr = err
					}
					if a.asJSON {
						rows = append(rows, row{Thread: jsonName(info.ThreadID), Namespaces: []string{}, Damaged: strings.ReplaceAll(err.Error(), "ckpt: ", "")})
					} else {
						fmt.Fprintf(tw, "%s\tdamaged\t-\t-\t-\t-\t-\n", shown(info.ThreadID))
					}
					continue
				}
				if a.asJSON {
					rows = append(rows, row{jsonName(info.ThreadID), jsonNames(info.Namespaces), info.Checkpoints, info.PendingWrites, info.NewestID, a.when(info.NewestTime), info.Bytes, ""})
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", shown(info.ThreadID), joinNS(shownAll(info.Namespaces)), info.Checkpoints,
					info.PendingWrites, info.NewestID, a.fmtTime(info.NewestTime), humanBytes(info.Bytes))
			}
			if lost != nil {
				*damaged = fmt.Errorf("%s could not be read (%s, marked damaged in the list; 'ckpt export --skip-damaged' saves the others): %w",
					count(len(lost), "thread", "threads"), quotedThreads(lost), lostErr)
			}
			if a.asJSON {
				if err := a.printJSON(rows); err != nil {
					return err
				}
				return *damaged
			}
			if n == 0 && *damaged == nil {
				// A bare header reads like a broken table.
				if prefix != "" {
					_, err := fmt.Fprintf(a.out, "%s has no threads whose id starts with %q\n", args[0], prefix)
					return err
				}
				_, err := fmt.Fprintf(a.out, "%s has no threads\n", args[0])
				return err
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if *damaged != nil {
				return *damaged
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
	c.Flags().Var(countFlag{&newest, "0 (every thread) or more"}, "newest", "only the N threads with the newest checkpoints, newest first; reads those N only (0: every thread, in id order)")
	c.Flags().Var((*nameValue)(&prefix), "prefix", "only the threads whose id starts with this")
	a.addJSON(c)
	return c
}

// selectThreads yields the threads to list: every thread in id order
// (Threads), or, with a prefix or a count of the newest, the page
// RecentThreads gives (in id order without a count). A thread damage
// confines to itself is yielded with its id and its error, as Threads
// yields one, so the table marks its row in both; any other error is
// yielded with no thread. *damaged is for a caller's own summary of the
// damaged threads (the command sets it).
func selectThreads(ctx context.Context, s *ckpt.Store, prefix string, newest int) (iter.Seq2[ckpt.ThreadInfo, error], *error) {
	damaged := new(error)
	if prefix == "" && newest == 0 {
		return s.Threads(ctx), damaged
	}
	return func(yield func(ckpt.ThreadInfo, error) bool) {
		page, err := s.RecentThreads(ctx, ckpt.ThreadQuery{Prefix: prefix, Limit: newest})
		if err != nil {
			yield(ckpt.ThreadInfo{}, err)
			return
		}
		type shownThread struct {
			info ckpt.ThreadInfo
			err  error
		}
		rows := make([]shownThread, len(page.Threads))
		for i, info := range page.Threads {
			rows[i].info = info
			if page.Errs != nil {
				rows[i].err = page.Errs[i] // its ThreadID is set (RecentThreads)
			}
		}
		if newest == 0 {
			slices.SortFunc(rows, func(a, b shownThread) int { return strings.Compare(a.info.ThreadID, b.info.ThreadID) })
		}
		for _, r := range rows {
			if !yield(r.info, r.err) {
				return
			}
		}
	}, damaged
}
