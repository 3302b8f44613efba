//go:build unix

package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestH227BackupFileThroughALinkReplacedPathIsTheCallers: BackupFile to a
// symbolic link puts the copy at the file the link names (the link
// stays), and the directory's fsync after that rename fails. The
// *ReplacedError's Path is the path the caller gave, the one a program
// compares with what it passed and that reads the new copy, not the
// link's target (it was the target); the message names the target,
// whose directory's fsync failed.
func TestH227BackupFileThroughALinkReplacedPathIsTheCallers(t *testing.T) {
	t.Parallel()
	s, path, fail, boom := h217DirFault(t, false)
	dir := filepath.Dir(path)
	if err := os.Mkdir(filepath.Join(dir, "real"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "real", "b.db")
	link := filepath.Join(dir, "b-link.db")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	err := s.BackupFile(context.Background(), link)
	fail.Store(false)
	if !errors.Is(err, boom) || !errors.Is(err, ErrNotDurable) {
		t.Fatalf("BackupFile through a link with a failed directory fsync = %v, want ErrNotDurable and its cause", err)
	}
	re := replacedIn(err)
	if re == nil {
		t.Fatalf("no *ReplacedError: %v", err)
	}
	if re.Path != link {
		t.Errorf("ReplacedError.Path = %q, want the path given, %q (the link)", re.Path, link)
	}
	if !strings.Contains(err.Error(), target) {
		t.Errorf("the message does not name the file the copy went to, %q: %v", target, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link is gone or replaced: %v", err)
	}
	if _, err := os.Stat(target); err != nil {
		t.Errorf("the copy is not at the link's target: %v", err)
	}
}
