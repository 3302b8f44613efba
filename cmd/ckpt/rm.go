package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func init() { register(newRmCmd) }

func newRmCmd(a *app) *cobra.Command {
	var yes bool
	c := &cobra.Command{
		Use:   "rm FILE THREAD...",
		Short: "Delete threads with their whole history (asks first unless --yes)",
		Long: `rm deletes each THREAD with all its checkpoints, metadata, pending
writes and channel values. On a terminal it asks before deleting; when
stdin is not a terminal (a script) it refuses unless --yes is given. A
THREAD that is not in FILE is an error, and then nothing is deleted (rm
looks for the threads read-only, so it says so even while a reader such as
ckpt ui has FILE open). Answering no deletes nothing and exits 0, as
rm -i does.`,
		Args: threadsAt(argsBetween(2, -1), 1, -1),
		RunE: func(c *cobra.Command, args []string) (err error) {
			file, threads := args[0], args[1:]
			if !yes && !a.stdinIsTerminal() {
				return usageError{"rm: stdin is not a terminal, so rm cannot ask: pass --yes to delete without asking"}
			}
			if err := checkFile(file); err != nil {
				return err
			}
			// Look for the threads read-only first: a mistyped id is told
			// as such while a reader (ckpt ui) has the file open, and the
			// question is asked with the file not held for writing.
			if err := a.requireThreads(c.Context(), file, threads); err != nil {
				return err
			}
			if !yes {
				sure, err := ask(c.Context(), a.in, a.errw, fmt.Sprintf("delete %s from %s (%s) with their whole history?", count(len(threads), "thread", "threads"), file, strings.Join(shownAll(threads), ", ")))
				if err != nil {
					return stopped(c.Context(), err, "nothing deleted, "+file+" left as it was")
				}
				if !sure {
					// As rm -i and git clean -i: a no is an answer, not a failure.
					fmt.Fprintln(a.errw, "nothing deleted")
					return nil
				}
			}
			s, err := a.openWrite(file)
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			for _, t := range threads { // again: another process may have deleted one since
				if err := requireThread(c.Context(), s, file, t); err != nil {
					return err
				}
			}
			for i, t := range threads {
				if err := s.DeleteThread(c.Context(), t); err != nil {
					// A thread is deleted in one transaction: the ones
					// before stay deleted, this one and the rest stay.
					left := "nothing deleted, " + file + " left as it was"
					if i > 0 {
						left = "deleted " + strings.Join(shownAll(threads[:i]), ", ") + "; " + strings.Join(shownAll(threads[i:]), ", ") + " still in " + file
					}
					return withLeft(c.Context(), err, left)
				}
				fmt.Fprintf(a.out, "deleted thread %s\n", shown(t))
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&yes, "yes", "y", false, "delete without asking")
	return c
}

// requireThreads checks, read-only, that every thread is in file.
func (a *app) requireThreads(ctx context.Context, file string, threads []string) (err error) {
	s, err := a.openRead(file)
	if err != nil {
		return err
	}
	defer a.closeStore(s, &err)
	for _, t := range threads {
		if err := requireThread(ctx, s, file, t); err != nil {
			return err
		}
	}
	return nil
}

// ask is confirm that a signal ends (ctx cancelled): the command catches
// Ctrl-C and SIGTERM to stop its work cleanly, so a question blocked on a
// line of input would otherwise outlive both, holding the file open.
func ask(ctx context.Context, r io.Reader, w io.Writer, q string) (bool, error) {
	answer := make(chan bool, 1)
	go func() { answer <- confirm(r, w, q) }()
	select {
	case yes := <-answer:
		return yes, nil
	case <-ctx.Done():
		fmt.Fprintln(w) // end the question's line
		return false, ctx.Err()
	}
}

// confirm asks q on w and reads the answer from r: only y or yes (in any
// case) is a yes; anything else, an empty line or no input is a no.
func confirm(r io.Reader, w io.Writer, q string) bool {
	fmt.Fprintf(w, "%s [y/N] ", q)
	line, _ := bufio.NewReader(r).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

func (a *app) stdinIsTerminal() bool {
	f, ok := a.in.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
