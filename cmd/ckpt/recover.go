package main

import (
	"fmt"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newRecoverCmd) }

func newRecoverCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "recover FILE",
		Short: "Repair a damaged write-ahead log, meta page or log mark",
		Long: `recover is the way out when opening FILE fails because its write-ahead log
(FILE-wal) is damaged in the middle: a bad record with valid records after
it, which may hide acknowledged writes, so the store refuses to drop it on
its own; or when one of bbolt's two meta pages in FILE is damaged, which
would make the file step back one transaction without a word: recover
rewrites it from the other page, accepting that step, or, where the log
holds groups past the other page's transaction, replaces it in the commit
that replays them (then nothing is lost, and recover says so).

For the log, recover replays the valid records before the damage into
FILE, renames the log to FILE-wal.damaged-TIMESTAMP (it is never deleted)
and reports how many groups of writes and bytes were dropped. A log that
is whole (or only ends in a torn record) is left alone. The file must not
be open elsewhere.

A file whose writer did not close it cleanly says its log is live; opened
without that log (copied, renamed or hard-linked without FILE-wal, or the
log deleted) it is refused, since the writes the log held would be gone
without a word. Put the log back if you have it; otherwise recover accepts
FILE as it is: it clears that mark and says so (what the lost log held that
FILE lacks is gone).

The file's mark of the last log group it holds, and its binding to its log
(the log's identity and that mark, under a checksum), are repaired too when
ckpt verify reports them damaged (a "mark" problem): the mark is put back
where the binding says, a damaged binding is removed (the next open for
writing binds its new log). Where only the mark was wrong and the log is
whole, the log is replayed from the binding's group, nothing of it is
dropped, and recover says so.`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkFile(args[0]); err != nil {
				return err
			}
			var st ckpt.RecoverStats
			err := a.whileHeld(args[0], func(timeout time.Duration) (err error) {
				st, err = ckpt.RecoverLog(args[0], ckpt.Options{LockTimeout: timeout})
				return err
			})
			if err != nil {
				return a.openError(args[0], err)
			}
			if a.asJSON {
				return a.printJSON(struct {
					File          string `json:"file"`
					Damaged       bool   `json:"damaged"`
					Reason        string `json:"reason,omitempty"`
					Offset        int64  `json:"offset"`
					KeptGroups    int    `json:"kept_groups"`
					DroppedGroups uint64 `json:"dropped_groups"`
					DroppedFirst  uint64 `json:"dropped_first_group,omitempty"`
					DroppedLast   uint64 `json:"dropped_last_group,omitempty"`
					LostFirst     uint64 `json:"lost_first_group,omitempty"`
					LostLast      uint64 `json:"lost_last_group,omitempty"`
					DroppedBytes  int64  `json:"dropped_bytes"`
					MovedTo       string `json:"moved_to,omitempty"`
					MetaRepaired  bool   `json:"meta_repaired"`
					MetaDamage    string `json:"meta_damage,omitempty"`
					MetaReplayed  bool   `json:"meta_replayed"`
					LogMissing    bool   `json:"log_missing"`
					MarkRepaired  bool   `json:"mark_repaired"`
					BindingGone   bool   `json:"binding_removed"`
					LogWhole      bool   `json:"log_whole"`
					KeptAll       bool   `json:"kept_all"`
					PowerCut      bool   `json:"power_cut"`
					Refused       bool   `json:"refused"`
					Foreign       bool   `json:"foreign"`
					Unverified    bool   `json:"unverified"`
				}{args[0], st.Damaged, st.Reason, st.Offset, st.KeptGroups, st.DroppedGroups(),
					st.DroppedFirst, st.DroppedLast, st.LostFirst, st.LostLast, st.DroppedBytes, st.MovedTo, st.MetaRepaired, st.MetaDamage, st.MetaReplayed, st.LogMissing, st.MarkRepaired,
					st.BindingRemoved, st.LogWhole, st.KeptAll, st.PowerCut, st.Refused, st.Foreign, st.Unverified})
			}
			if st.MetaRepaired {
				what := "rewrote the damaged meta page from the other one: the file now stands at that transaction"
				if st.MetaReplayed {
					// The log's groups past the other page's transaction
					// went in with the page's replacement.
					what = fmt.Sprintf("replaced the damaged meta page in the commit that replayed %s of the write-ahead log "+
						"past the other page's transaction", count(st.KeptGroups, "group", "groups"))
					if st.Damaged {
						what += "; what the damaged log lost follows"
					} else {
						what += ": nothing was lost"
					}
				}
				if _, err := fmt.Fprintf(a.out, "%s: %s\n%s\n", args[0], st.MetaDamage, what); err != nil {
					return err
				}
			}
			if st.LogMissing {
				if _, err := fmt.Fprintf(a.out, "%s: the file said its write-ahead log was live and there was none: "+
					"accepted the file as it is (whatever the missing log held that the file lacked is lost)\n", args[0]); err != nil {
					return err
				}
			}
			if st.MarkRepaired {
				if _, err := fmt.Fprintf(a.out, "%s: the file's mark of the last write-ahead log group it holds was damaged: "+
					"put it back where the file's binding to its log, or the log, says it was (with neither to go by and no log record past it, "+
					"its top two bytes cleared)\n", args[0]); err != nil {
					return err
				}
			}
			if st.BindingRemoved {
				if _, err := fmt.Fprintf(a.out, "%s: the file's binding to its write-ahead log was damaged: "+
					"removed it (the next open for writing binds its new log)\n", args[0]); err != nil {
					return err
				}
			}
			if !st.Damaged && (st.MetaRepaired || st.LogMissing || st.MarkRepaired || st.BindingRemoved) {
				return nil
			}
			if !st.Damaged {
				_, err := fmt.Fprintf(a.out, "%s: the write-ahead log is not damaged; nothing to recover\n", args[0])
				return err
			}
			if st.LogWhole {
				// Only the mark was wrong: nothing of the log was lost, but
				// for a power cut's tail (never acknowledged as durable).
				dropped := "dropped nothing"
				if st.PowerCut {
					dropped = fmt.Sprintf("dropped groups %d-%d at the end", st.DroppedFirst, st.DroppedLast)
					if st.DroppedFirst == st.DroppedLast {
						dropped = fmt.Sprintf("dropped group %d at the end", st.DroppedFirst)
					}
					dropped += ", written before it was known durable (a power cut during its fsync: never acknowledged as durable), as open drops it"
				}
				_, err = fmt.Fprintf(a.out, "%s: %s\nthe log itself was whole: replayed it from the group the file's binding to it names "+
					"(%s), %s\nthe log is now %s\n", args[0], st.Reason, count(st.KeptGroups, "group", "groups"), dropped, st.MovedTo)
				return err
			}
			if st.Refused {
				// The log was whole; the file refused one of its groups.
				dropped := fmt.Sprintf("groups %d-%d", st.DroppedFirst, st.DroppedLast)
				if st.DroppedFirst == st.DroppedLast {
					dropped = fmt.Sprintf("group %d", st.DroppedFirst)
				}
				// bbolt refuses a group only for damage in the file, which
				// recover leaves where it is: say so, and what lists it.
				_, err = fmt.Fprintf(a.out, "%s: %s\nkept %s before it; dropped %s, %s\nthe log is now %s\n"+
					"the damage the file refused the group for is still in %s: 'ckpt verify %s' lists it ('ckpt export %s' saves what is readable)\n",
					args[0], st.Reason, count(st.KeptGroups, "group", "groups"), dropped, count(st.DroppedBytes, "byte", "bytes"), st.MovedTo,
					args[0], args[0], args[0])
				return err
			}
			if st.KeptAll {
				// Nothing was lost with the damage.
				_, err = fmt.Fprintf(a.out, "%s: %s at offset %d of the write-ahead log\nnothing was lost with it: kept every group of the log the file lacked (%s), dropped none\nthe damaged log is now %s\n",
					args[0], st.Reason, st.Offset, count(st.KeptGroups, "group", "groups"), st.MovedTo)
				return err
			}
			if st.PowerCut {
				// Nothing was lost with the damage; a power cut's tail was.
				cut := fmt.Sprintf("groups %d-%d", st.DroppedFirst, st.DroppedLast)
				if st.DroppedFirst == st.DroppedLast {
					cut = fmt.Sprintf("group %d", st.DroppedFirst)
				}
				_, err = fmt.Fprintf(a.out, "%s: %s at offset %d of the write-ahead log\nthe damage cost no group: kept every group of the log "+
					"the file lacked before the log's end (%s); dropped %s at the end, written before it was known durable "+
					"(a power cut during its fsync: never acknowledged as durable), as open drops it\nthe damaged log is now %s\n",
					args[0], st.Reason, st.Offset, count(st.KeptGroups, "group", "groups"), cut, st.MovedTo)
				return err
			}
			dropped := fmt.Sprintf("%s of writes (%d-%d)", count(st.DroppedGroups(), "group", "groups"), st.DroppedFirst, st.DroppedLast)
			if st.Unverified {
				_, err = fmt.Fprintf(a.out, "%s: the write-ahead log may not be this store's: %s\nkept none of it (%s); that log is now %s\n"+
					"if it is this store's own log, put it back beside the file: the next open replays it\n",
					args[0], st.Reason, count(st.DroppedBytes, "byte", "bytes"), st.MovedTo)
				return err
			}
			if st.Foreign {
				_, err = fmt.Fprintf(a.out, "%s: the write-ahead log is not this store's: %s\nkept none of it; dropped %s of another log's writes\nthat log is now %s\n",
					args[0], st.Reason, count(st.DroppedBytes, "byte", "bytes"), st.MovedTo)
				return err
			}
			if st.DroppedLast == 0 {
				dropped = "an unknown number of groups of writes"
				if st.Offset == 0 {
					dropped += " (the log's header was damaged)"
				}
			}
			_, err = fmt.Fprintf(a.out, "%s: %s at offset %d of the write-ahead log\nkept %s before it; dropped %s, %s\nthe damaged log is now %s\n",
				args[0], st.Reason, st.Offset, count(st.KeptGroups, "group", "groups"), dropped, count(st.DroppedBytes, "byte", "bytes"), st.MovedTo)
			if err != nil || st.LostLast == 0 {
				return err
			}
			// A gap: say which groups no file holds, and why the log's
			// after them went too.
			where := "groups %d-%d are in neither the file nor the log"
			if st.MetaRepaired {
				where = "groups %d-%d were in the damaged meta page's transaction only (the log had started again since, " +
					"without them): they are in neither the file nor the log, and went with the page"
			}
			_, err = fmt.Fprintf(a.out, where+"; the log's groups %d-%d come after them and were dropped with them "+
				"(replayed without them, they would write a state no store held)\na backup of the file is the way back to them\n",
				st.LostFirst, st.LostLast, st.LostLast+1, st.DroppedLast)
			return err
		},
	}
	a.addJSON(c)
	return c
}
