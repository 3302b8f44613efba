//go:build linux

package ckpt

// RecoverLog, and then a read-write Open (its replay, its new log), on a
// full file system (a small tmpfs, filled up to a few bytes to a few
// hundred KiB of free space), for each damaged store of the kill hunt
// (h145_recover_hunt_test.go). Whatever fails must fail with an error,
// never kill the process, and leave a state that a recovery with room
// finishes: the filler deleted, the store reads exactly as after a
// recovery that had room, and a RecoverLog after that changes nothing.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// h145Fill allocates a filler file in dir so that free bytes are left on
// its file system (as far as its page granularity lets it).
func h145Fill(t *testing.T, dir string, free int64) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := int64(st.Bfree)*st.Bsize - free
	var off int64
	for _, chunk := range []int64{1 << 20, 64 << 10, 4 << 10} {
		for off+chunk <= n {
			if syscall.Fallocate(int(f.Fd()), 0, off, chunk) != nil {
				break
			}
			off += chunk
		}
	}
	return path
}

// h145Sparse punches a hole over every 4 KiB block of zeros of the file
// at path: a write there (bbolt's pages past its last one, the log's
// records over its zeros) then needs room, as in a file grown by
// truncate.
func h145Sparse(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const block = 4 << 10
	for off := 0; off+block <= len(data); off += block {
		if strings.Count(string(data[off:off+block]), "\x00") == block {
			const punch = 0x02 | 0x01 // FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
			if err := syscall.Fallocate(int(f.Fd()), punch, int64(off), block); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestH145RecoverOnAFullDisk(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a full file system needs a tmpfs mount: not root")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.Itoa(16<<20)); err != nil {
		t.Skipf("a full file system needs a tmpfs mount: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
		}
	})
	frees := []int64{0, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10, 128 << 10, 256 << 10, 300 << 10}
	var rounds, failed, openFailed int
	// Under -race every 3rd room of every case (raceSample: one copy
	// recovered and opened at a time, the detector meets only the
	// store's own goroutines, which the sample meets too); CI's plain
	// command tries every room.
	keep, k := raceSample(t, 3), -1
	for ci, c := range h145Cases() {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			base, want, gone := c.build(t)
			h := &h145Hunt{c: c, want: want, gone: gone}
			ref := h145Copy(t, base)
			if _, err := RecoverLog(ref, Options{}); err != nil {
				t.Fatalf("RecoverLog: %v", err)
			}
			h.ref = h.settle(t, ref, c.name+", with room", 0)
			for i, free := range frees {
				if k++; !keep(k) {
					continue
				}
				dir := filepath.Join(mnt, fmt.Sprintf("%d-%d", ci, i))
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				ents, err := os.ReadDir(filepath.Dir(base))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					copyFileIn(t, filepath.Join(filepath.Dir(base), e.Name()), filepath.Join(dir, e.Name()))
					h145Sparse(t, filepath.Join(dir, e.Name()))
				}
				p := filepath.Join(dir, filepath.Base(base))
				filler := h145Fill(t, mnt, free)
				what := fmt.Sprintf("%s, %d bytes free", c.name, free)
				rounds++
				if _, err := RecoverLog(p, Options{}); err != nil {
					failed++
					if !errors.Is(err, ErrDiskFull) {
						t.Errorf("%s: RecoverLog: %v, want ErrDiskFull", what, err)
					}
				}
				if s, err := Open(p, Options{}); err == nil {
					_ = s.Close()
				} else {
					openFailed++
					if !errors.Is(err, ErrDiskFull) && !errors.Is(err, ErrCorrupt) {
						t.Errorf("%s: read-write Open: %v, want ErrDiskFull (or ErrCorrupt where RecoverLog failed)", what, err)
					}
				}
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
				// What the full disk left, finished with room (into the
				// test's own directory: the tmpfs is for the next round).
				h.check(t, h145Copy(t, p), what, 0)
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	t.Logf("%d rounds on a full tmpfs: RecoverLog failed in %d, the read-write Open after it in %d", rounds, failed, openFailed)
}
