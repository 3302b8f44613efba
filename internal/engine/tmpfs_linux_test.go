//go:build linux

package engine

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size bytes in a new folder and returns its
// path (unmounted when the test ends): a real disk that fills. Without
// the right to mount (not root), the test is skipped.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		t.Skipf("a real full disk needs a mount (root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	return mnt
}
