//go:build unix

package engine

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives f the owner and group of the file fi describes, where
// the process may (root may give a file away; another user may only pick
// a group of theirs): a compaction run by root ('sudo ckpt compact') on
// the store of another user's program otherwise left it root's, a file
// that program could no longer open. Refused, the new file stays the
// process's.
func keepOwner(f *os.File, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := f.Chown(int(st.Uid), int(st.Gid)); err != nil && !errors.Is(err, fs.ErrPermission) {
		return err
	}
	return nil
}
