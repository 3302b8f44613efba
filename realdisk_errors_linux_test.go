//go:build linux

package ckpt_test

// Error quality on a real full file system (a small tmpfs, and btrfs where
// mkfs.btrfs is installed; root only): every call that fails there
// because a write, ftruncate or growth of one of its files found no room
// says so with ckpt.ErrDiskFull, and the system's error, not only the
// latter: Open (a new file, a log to replay, a format upgrade),
// RecoverLog, Compact (its new file), BackupFile (its destination) and
// ImportFile (its .import file). Each leaves the store going.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

func TestRealFullDiskErrorsSayDiskFull(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	ctx := context.Background()
	plain, dump := rdPrepareStore(t, false)
	// A store whose log holds groups its file lacks (a crash's): copied
	// while the applier is held.
	replay := filepath.Join(t.TempDir(), "replay.db")
	{
		src := filepath.Join(t.TempDir(), "src.db")
		copyFile(t, plain, src)
		s, err := ckpt.Open(src, ckpt.WithHeldApplier(ckpt.Options{}))
		if err != nil {
			t.Fatal(err)
		}
		// More than the file's free pages hold (and than the log's
		// first growth): the replay must grow the file.
		for i := range 80 {
			if _, err := s.Save(ctx, "t", goesOnState(rdBase+i), nil); err != nil {
				t.Fatal(err)
			}
		}
		copyFile(t, src, replay)
		copyFile(t, src+"-wal", replay+"-wal")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// The same with its log damaged near the end (RecoverLog replays the
	// records before the damage).
	damaged := filepath.Join(t.TempDir(), "damaged.db")
	copyFile(t, replay, damaged)
	copyFile(t, replay+"-wal", damaged+"-wal")
	{
		f, err := os.OpenFile(damaged+"-wal", os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 4<<20)
		n, _ := f.ReadAt(b, 0)
		end := bytes.LastIndexFunc(b[:n], func(r rune) bool { return r != 0 })
		if _, err := f.WriteAt([]byte{^b[end-100]}, int64(end-100)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	old := filepath.Join("testdata", "format2", "store.ckpt")
	cases := []fullErrCase{
		{"open a new file", "", false, func(_ *ckpt.Store, path string) error {
			s, err := ckpt.Open(path, ckpt.Options{})
			if err == nil {
				err = s.Close()
			}
			return err
		}},
		{"open with a log to replay", replay, false, func(_ *ckpt.Store, path string) error {
			s, err := ckpt.Open(path, ckpt.Options{})
			if err == nil {
				err = s.Close()
			}
			return err
		}},
		{"recover a damaged log", damaged, false, func(_ *ckpt.Store, path string) error {
			_, err := ckpt.RecoverLog(path, ckpt.Options{})
			return err
		}},
		{"open and upgrade", old, false, func(_ *ckpt.Store, path string) error {
			s, err := ckpt.Open(path, ckpt.Options{})
			if err == nil {
				err = s.Close()
			}
			return err
		}},
		{"compact", plain, true, func(s *ckpt.Store, _ string) error {
			_, err := s.Compact(ctx, nil)
			return err
		}},
		{"backup file", plain, true, func(s *ckpt.Store, path string) error {
			return s.BackupFile(ctx, path+".bak")
		}},
		{"import file", "", false, func(_ *ckpt.Store, path string) error {
			f, err := os.Open(dump)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = ckpt.ImportFile(ctx, path, f, ckpt.Options{}, ckpt.ImportOptions{})
			return err
		}},
	}
	// tmpfs, and btrfs (copy on write: full, it refuses even a file's
	// creation or a rename) where mkfs.btrfs is installed.
	for _, fs := range []string{"tmpfs", "btrfs"} {
		t.Run(fs, func(t *testing.T) {
			mnt := mountSmallFS(t, fs, 32<<20)
			filler := filepath.Join(mnt, "filler")
			for _, c := range cases {
				fullDiskErrorRound(t, mnt, filler, c)
			}
		})
	}
}

type fullErrCase struct {
	name string
	// base is copied to the round's path before the disk fills (none:
	// the path is left absent).
	base string
	// open: the store is opened before the disk fills, and run gets it.
	open bool
	run  func(s *ckpt.Store, path string) error
}

// fullDiskErrorRound runs one case of TestRealFullDiskErrorsSayDiskFull
// on the file system at mnt, filled by filler.
func fullDiskErrorRound(t *testing.T, mnt, filler string, c fullErrCase) {
	t.Helper()
	ctx := context.Background()
	frees := []int64{0, 64 << 10}
	if raceEnabled {
		frees = frees[:1] // under 10 s
	}
	for _, free := range frees {
		dir, err := os.MkdirTemp(mnt, "r")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "s.db")
		if c.base != "" {
			copyFile(t, c.base, path)
			if _, err := os.Stat(c.base + "-wal"); err == nil {
				copyFile(t, c.base+"-wal", path+"-wal")
			}
		}
		var s *ckpt.Store
		if c.open {
			if s, err = ckpt.Open(path, ckpt.Options{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := fillFS(filler, free); err != nil {
			t.Fatal(err)
		}
		opErr := c.run(s, path)
		switch {
		case opErr == nil:
			t.Logf("%s, %d bytes free: succeeded", c.name, free)
		case !errors.Is(opErr, ckpt.ErrDiskFull) || errors.Is(opErr, ckpt.ErrFailed):
			t.Errorf("%s, %d bytes free: %v; want ErrDiskFull (not ErrFailed)", c.name, free, opErr)
		case !errors.Is(opErr, syscall.ENOSPC) && !strings.Contains(opErr.Error(), syscall.ENOSPC.Error()):
			t.Errorf("%s, %d bytes free: %v; want the system's words (ENOSPC)", c.name, free, opErr)
		}
		if s != nil {
			// The store goes on once there is room.
			if err := removeFiller(filler); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Save(ctx, "t", rdState(1), nil); err != nil {
				t.Errorf("%s, %d bytes free: Save once there is room: %v", c.name, free, err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("%s, %d bytes free: Close: %v", c.name, free, err)
			}
		}
		_ = removeFiller(filler)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}
