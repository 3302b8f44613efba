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
	err = s.BackupFile(context.Background(), filepath.Join(mnt, "b.db"))
	if !errors.Is(err, ckpt.ErrDiskFull) {
		t.Fatalf("BackupFile: %v; want ErrDiskFull", err)
	}
	if n := strings.Count(err.Error(), "no space left on device"); n != 1 {
		t.Fatalf("the failed write named %d times: %v", n, err)
	}
}
