//go:build linux

package ckpt_test

// The file systems of realdisk_linux_test.go: a small one mounted for the
// test, and a filler file that leaves it a given free space.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
