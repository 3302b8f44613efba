//go:build unix

package ckpt_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// Compact puts a new file in place of the store's, and the new file is
// meant to keep the old one's permission bits: it was created with them,
// and the umask took away what it covers, so a store shared by a group
// (0660) came out 0640 under the usual umask 022 and the group's other
// users could no longer open it for writing. And an operator compacting as
// root a store another user's program runs on ('sudo ckpt compact') left
// it owned by root, a file that program could no longer open.
//
// Not parallel: it sets the process's umask (restored at its end), which
// the parallel tests do not run beside.
func TestH165CompactKeepsModeAndOwner(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	for _, mode := range []os.FileMode{0o660, 0o664, 0o600, 0o604} {
		path := filepath.Join(t.TempDir(), "shared.db")
		s, err := ckpt.Open(path, ckpt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		uid, gid := os.Getuid(), os.Getgid()
		if uid == 0 {
			// Root may give the file away, as the store of another
			// user's program is.
			uid, gid = 65534, 65534
			if err := os.Chown(path, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Compact(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Fatalf("mode %v before Compact, %v after", mode, fi.Mode().Perm())
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != uid || int(st.Gid) != gid {
			t.Fatalf("owner %d:%d before Compact, %d:%d after", uid, gid, st.Uid, st.Gid)
		}
	}
}
