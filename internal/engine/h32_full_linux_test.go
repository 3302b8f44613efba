//go:build linux

package engine

// TestOpenGroupFaultsKeepThePromise's round on a real full disk: the store
// on a small tmpfs (root only: skipped where this process may not mount),
// filled once it is open to a few pages free, so that the log's growths
// (every 8 KiB) and bbolt's commits find no room while the open groups
// build, and freed again half-way (once an op has found it full): the ops
// that found no room fail alone (ErrDiskFull), the store never fails, and
// the promise holds as in the other rounds. CKPT_H32_SEED picks other
// rounds.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func TestOpenGroupOnAFullDisk(t *testing.T) {
	t.Parallel()
	mnt := mountTmpfs(t, 4194304)
	seed := uint64(3200)
	if v, err := strconv.ParseUint(os.Getenv(h32SeedEnv), 10, 64); err == nil {
		seed = v
	}
	for i, free := range []int64{0, 4 << 10, 8 << 10, 4 << 10} {
		dir := filepath.Join(mnt, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		r := h32Round{seed: seed + uint64(i), kind: "full", dir: dir, full: func(t *testing.T, dir string) func() {
			filler := filepath.Join(dir, "filler")
			if err := h32Fill(filler, free); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := os.Remove(filler); err != nil {
					t.Error(err)
				}
			}
		}}
		t.Run(fmt.Sprintf("%s free %d", r, free), func(t *testing.T) { h32RunRound(t, r) })
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// h32Fill allocates a file at path so that about free bytes are left on
// its file system.
func h32Fill(path string, free int64) error {
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		return err
	}
	n := int64(st.Bfree)*st.Bsize - free
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var off int64
	for _, chunk := range []int64{1 << 20, 64 << 10, 4 << 10} {
		for off+chunk <= n {
			if syscall.Fallocate(int(f.Fd()), 0, off, chunk) != nil {
				break
			}
			off += chunk
		}
	}
	return nil
}
