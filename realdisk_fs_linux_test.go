//go:build linux

package ckpt_test

// The file systems of realdisk_linux_test.go: a small one mounted for the
// test, and a filler file that leaves it a given free space.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// mountSmallFS mounts a file system of size bytes ("tmpfs", or "ext4": an
// image on a loop device) in a new directory, unmounted at the test's end.
// It skips the test when this process may not mount.
func mountSmallFS(t *testing.T, kind string, size int64) string {
	t.Helper()
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	switch kind {
	case "tmpfs":
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
			t.Skipf("a real full disk needs a mount (root): mount tmpfs: %v", err)
		}
	case "ext4", "btrfs":
		img := filepath.Join(dir, "fs.img")
		if err := os.WriteFile(img, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, size); err != nil {
			t.Fatal(err)
		}
		// -m 0: no blocks reserved for root, so the free space the child
		// sees is the free space there is.
		mkfs := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img)
		if kind == "btrfs" {
			// Copy on write: an overwrite needs new room too, so a
			// write into blocks the file holds can find none (the log's
			// records, written over its preallocated zeros). --mixed:
			// one pool for data and metadata, for a file system this
			// small.
			mkfs = exec.Command("mkfs.btrfs", "-q", "-f", "--mixed", img)
		}
		if out, err := mkfs.CombinedOutput(); err != nil {
			t.Skipf("a real full disk needs %s: %v %s", mkfs.Path, err, out)
		}
		if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
			t.Skipf("a real full disk needs a loop mount (root): %v %s", err, out)
		}
	}
	t.Cleanup(func() {
		// Busy (something of the system's still looking at it): detached,
		// it goes once let go. Not the store's failure.
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Logf("unmount %s: %v; detached", mnt, err)
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	return mnt
}

// fillFS allocates a filler file at path so that free bytes are left on
// its file system (as far as block granularity lets it).
func fillFS(path string, free int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return err
	}
	n := int64(st.Bfree)*st.Bsize - free
	if n <= 0 {
		return nil
	}
	// No process may be forked while the filler is open: a child started
	// by a parallel test (os/exec) gets a copy of every descriptor, the
	// filler's among them, until its execve closes them (O_CLOEXEC), which
	// on a busy host can come after the round removed the filler, whose
	// room stays taken while the child holds it (removeFiller).
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	// fallocate may not get every block the file system reports free (its
	// own metadata takes some): the filler grows by chunks, smaller ones
	// once a larger one does not fit (one failed request of the whole
	// size, retried smaller, cost seconds on tmpfs).
	var off int64
	for _, chunk := range []int64{1 << 20, 64 << 10, 4 << 10} {
		for off+chunk <= n {
			if syscall.Fallocate(int(f.Fd()), 0, off, chunk) != nil {
				break
			}
			off += chunk
		}
	}
	return f.Sync()
}

// removeFiller gives the filler's room back and removes it. Cut to
// nothing first: a removed file keeps its blocks while any process holds
// it open, and a process forked elsewhere in the test binary may hold it
// (fillFS keeps forks out while it is open, but a file's blocks are what
// the rounds need back, whoever holds it): TestRealFullDiskGoesOn failed
// once a write found no room with the filler gone, and its mount was busy
// at the end.
func removeFiller(path string) error {
	if err := os.Truncate(path, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Remove(path)
}

// mountHolders says how much room the file system at mnt has and which
// processes hold files under it open or mapped (a file removed stays
// allocated while it is held): what a write that found no room once the
// filler was gone needs told.
func mountHolders(mnt string) string {
	var st syscall.Statfs_t
	_ = syscall.Statfs(mnt, &st)
	out := fmt.Sprintf("free %d;", int64(st.Bfree)*st.Bsize)
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		var held []string
		fds, _ := filepath.Glob(p + "/fd/*")
		for _, fd := range fds {
			if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, mnt+"/") {
				held = append(held, l)
			}
		}
		if maps, err := os.ReadFile(p + "/maps"); err == nil {
			for _, line := range strings.Split(string(maps), "\n") {
				if i := strings.Index(line, mnt+"/"); i >= 0 {
					held = append(held, "mapped "+line[i:])
				}
			}
		}
		if len(held) > 0 {
			cmd, _ := os.ReadFile(p + "/cmdline")
			out += fmt.Sprintf(" %s (%s, self %d): %v;", filepath.Base(p), strings.ReplaceAll(string(cmd), "\x00", " "), os.Getpid(), held)
		}
	}
	return out
}
