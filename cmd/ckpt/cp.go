package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ckpt-go/ckpt"
	"github.com/spf13/cobra"
)

func init() { register(newCpCmd) }

func newCpCmd(a *app) *cobra.Command {
	var replace bool
	c := &cobra.Command{
		Use:   "cp FILE SRC DST",
		Short: "Copy a thread with its whole history to a new thread",
		Long: `cp copies every checkpoint, metadata, pending write and channel value of
thread SRC to thread DST, in one transaction (LangGraph's copy_thread): DST
can then be resumed or changed without touching SRC. A DST that already
exists is an error unless --replace is given (its old content is deleted).`,
		Args: threadsAt(argsBetween(3, 3), 1, 2),
		RunE: func(c *cobra.Command, args []string) (err error) {
			file, src, dst := args[0], args[1], args[2]
			if src == dst {
				return usageError{fmt.Sprintf("SRC and DST are the same thread (%q): name a new thread to copy it to", src)}
			}
			if err := checkFile(file); err != nil {
				return err
			}
			// Look read-only first, as rm does: a read-write open writes to
			// the file (its meta pages, the log's binding), and a mistyped
			// thread then leaves it byte-identical.
			if err := a.cpLooks(c.Context(), file, src, dst, replace); err != nil {
				return err
			}
			s, err := a.openWrite(file)
			if err != nil {
				return err
			}
			defer a.closeStore(s, &err)
			if err := requireThread(c.Context(), s, file, src); err != nil {
				return err
			}
			err = s.CopyThread(c.Context(), src, dst, ckpt.CopyOptions{Replace: replace})
			if errors.Is(err, ckpt.ErrExists) {
				return dstExists(file, dst)
			}
			if err != nil {
				// One transaction: none of the copy stays.
				return withLeft(c.Context(), err, "nothing copied, "+file+" left as it was")
			}
			_, err = fmt.Fprintf(a.out, "copied thread %s to %s\n", shown(src), shown(dst))
			return err
		},
	}
	c.Flags().BoolVar(&replace, "replace", false, "overwrite DST if it exists")
	return c
}

// cpLooks checks, read-only, that file has thread src and, unless replace,
// not dst (the copy itself checks both again, in its transaction).
func (a *app) cpLooks(ctx context.Context, file, src, dst string, replace bool) (err error) {
	s, err := a.openRead(file)
	if err != nil {
		return err
	}
	defer a.closeStore(s, &err)
	if err := requireThread(ctx, s, file, src); err != nil {
		return err
	}
	if replace {
		return nil
	}
	for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: dst, Limit: 1}) {
		if err != nil {
			return err
		}
		return dstExists(file, dst)
	}
	return nil
}

func dstExists(file, dst string) error {
	return fmt.Errorf("%s already has a thread %q (--replace overwrites it)", file, dst)
}
