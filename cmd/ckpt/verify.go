package main

import (
	"fmt"
	"strings"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newVerifyCmd) }

func newVerifyCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "verify FILE",
		Short: "Check the whole file; exit status 1 if anything is wrong",
		Long: `verify runs bbolt's consistency check (every page reachable or free, keys
in order) and then checks the store's own invariants: the format marker;
every checkpoint's record, metadata and channel values exist and decode;
every pending write and stored value decodes and belongs to a stored
checkpoint; each thread's history order and the global index agree with
the checkpoints both ways; every record's checksum matches its bytes. It
prints every problem found (up to 1000) and exits with status 1 if there
is any. Damage confined to some threads (a record's checksum, or pages
under one thread's buckets that a read-only open kept the file beside)
does not stop the check: the line after the problems counts the threads
sound and names the damaged ones ('ckpt export --skip-damaged' saves the
sound ones). Damage outside any one thread (bbolt's pages, the list of
threads) may stop the check of the threads: the report then says so, and
a thread it names nowhere is not known to be sound.`,
		Args: argsBetween(1, 1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			s, err := a.openRead(args[0])
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			bar := a.progress(-1, "verifying threads")
			rep, err := s.Verify(c.Context(), ckpt.VerifyOptions{Progress: func(n int) { bar.set(int64(n)) }})
			bar.done()
			if err != nil {
				return stopped(c.Context(), err, "verify did not finish; "+args[0]+" unchanged")
			}
			if a.asJSON {
				type jsonReport struct {
					File string `json:"file"`
					OK   bool   `json:"ok"`
					*ckpt.VerifyReport
				}
				if err := a.printJSON(jsonReport{args[0], rep.OK(), jsonVerify(rep)}); err != nil {
					return err
				}
			} else {
				printVerify(a, args[0], rep)
			}
			if !rep.OK() {
				return fmt.Errorf("verify: %s has %s", args[0], count(len(rep.Problems)+rep.Truncated, "problem", "problems"))
			}
			return nil
		},
	}
	a.addJSON(c)
	return c
}

func printVerify(a *app, file string, rep *ckpt.VerifyReport) {
	checked := strings.Join([]string{count(rep.Threads, "thread", "threads"), count(rep.Checkpoints, "checkpoint", "checkpoints"),
		count(rep.PendingWrites, "pending write", "pending writes"), count(rep.ChannelValues, "channel value", "channel values"),
		count(rep.IndexEntries, "index entry", "index entries")}, ", ")
	if rep.OK() {
		fmt.Fprintf(a.out, "%s: OK (bbolt page check passed; checked %s)\n", file, checked)
		return
	}
	fmt.Fprintf(a.out, "%s: %s (checked %s)\n", file, count(len(rep.Problems)+rep.Truncated, "problem", "problems"), checked)
	for _, p := range rep.Problems {
		// The problems quote library errors, each with its "ckpt: ".
		fmt.Fprintf(a.out, "  %s\n", strings.ReplaceAll(fmt.Sprint(p), "ckpt: ", ""))
	}
	if rep.Truncated > 0 {
		fmt.Fprintf(a.out, "  ... and %d more\n", rep.Truncated)
	}
	if d := len(rep.DamagedThreads); d > 0 {
		// Which threads are lost and which a user can save ('ckpt
		// export --skip-damaged' writes the sound ones).
		fmt.Fprintf(a.out, "%s sound, %d damaged: %s\n", count(rep.Threads-d, "thread", "threads"), d, quotedThreads(rep.DamagedThreads))
	}
	if rep.Incomplete {
		// Not a word of the threads after the damage: none is sound.
		fmt.Fprintf(a.out, "the check stopped at damage outside any one thread, after %s: the others were not checked\n", count(rep.Threads, "thread", "threads"))
	}
}

// jsonVerify is rep with the names its problems give as --json prints
// them (jsonName): a thread or namespace that is not UTF-8 came out with
// U+FFFD in place of its bytes, a name no command could be given back.
func jsonVerify(rep *ckpt.VerifyReport) *ckpt.VerifyReport {
	j := *rep
	j.DamagedThreads = jsonNames(rep.DamagedThreads)
	j.Problems = make([]ckpt.Problem, len(rep.Problems))
	for i, p := range rep.Problems {
		p.Thread, p.Namespace = jsonName(p.Thread), jsonName(p.Namespace)
		j.Problems[i] = p
	}
	return &j
}
