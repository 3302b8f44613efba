package main

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestH232NoRoomKnowsAQuota: a write refused because the user's disk
// quota is met (EDQUOT) is as much "no room" as a full disk (ENOSPC) or
// the file size limit (EFBIG): opening a store for writing over quota
// must get the no-room message, not the generic one. noRoom knew only
// ENOSPC and EFBIG.
func TestH232NoRoomKnowsAQuota(t *testing.T) {
	wrap := func(errno syscall.Errno) error {
		return fmt.Errorf("ckpt: open s.db: %w", &fs.PathError{Op: "write", Path: "s.db-wal", Err: errno})
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"ENOSPC", wrap(syscall.ENOSPC), true},
		{"EDQUOT", wrap(syscall.EDQUOT), true},
		{"EFBIG", wrap(syscall.EFBIG), true},
		{"ErrDiskFull", fmt.Errorf("%w: x", ckpt.ErrDiskFull), true},
		{"EIO", wrap(syscall.EIO), false},
		{"EACCES", wrap(syscall.EACCES), false},
		{"other", errors.New("something else"), false},
		{"nil", nil, false},
	} {
		if got := noRoom(c.err); got != c.want {
			t.Errorf("noRoom(%s: %v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
