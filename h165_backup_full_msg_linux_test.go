//go:build linux

package ckpt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestH165BackupOnAFullDiskSaysItOnce: a backup whose destination has no
// room is ErrDiskFull, and its message names the failed write once. It
// said it twice ("meta 0 copy: write T: no space left on device: write T:
// no space left on device"): bbolt formats the writer's error as text in
// its meta pages' copy, and the error was kept beside it for errors.Is.
// And it said "disk full: write DST.ckpt-backup-NNN.tmp: no space left on
// device", naming a hidden file the failed backup removed: it names the
// destination, and the copy, instead (helper-178).
func TestH165BackupOnAFullDiskSaysItOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	s, err := ckpt.Open(filepath.Join(t.TempDir(), "s.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Save(context.Background(), "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	mnt := mountSmallFS(t, "tmpfs", 8<<20)
	filler := filepath.Join(mnt, "filler")
	if err := fillFS(filler, 0); err != nil {
		t.Fatal(err)
	}
	defer removeFiller(filler)
	dst := filepath.Join(mnt, "b.db")
	err = s.BackupFile(context.Background(), dst)
	if !errors.Is(err, ckpt.ErrDiskFull) {
		t.Fatalf("BackupFile: %v; want ErrDiskFull", err)
	}
	if n := strings.Count(err.Error(), "no space left on device"); n != 1 {
		t.Errorf("the failed write named %d times: %v", n, err)
	}
	if msg := err.Error(); strings.Contains(msg, ".ckpt-backup-") || !strings.Contains(msg, "backup to "+dst+":") || !strings.Contains(msg, "the copy") {
		t.Errorf("BackupFile's error = %q, want it to name %s and the copy, not the temporary file", msg, dst)
	}
}
