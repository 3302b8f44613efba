//go:build linux

package ckpt_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestH246RekeyOnAFullTmpfs: Rekey of a store sealed under key 1 on a real
// full disk (a tmpfs filled to a few KiB), with the log and NoWAL, begun
// beside a Sync and an Async writer or after they filled the disk. Rekey
// returns nil or ErrDiskFull; once the filler goes, the same open store
// rekeys again; after Close, every acknowledged write (Sync: Save
// returned nil; Async: a Flush after it did) reads back exact with the
// newest key alone (with both where the second Rekey failed), no write
// that returned an error shows, and Verify is clean. (fulldisk_test.go
// runs Rekey alone under a file size limit; h192's combos, a killed Rekey
// before a full disk.) Without the right to mount (not root) it is skipped.
func TestH246RekeyOnAFullTmpfs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		nowal, after bool
	}{{false, false}, {true, false}, {false, true}, {true, true}} {
		name := fmt.Sprintf("nowal=%v,after-writers=%v", c.nowal, c.after)
		mnt := filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(mnt, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.Itoa(16<<20)); err != nil {
			t.Skipf("a real full disk needs a mount (root): %v", err)
		}
		t.Cleanup(func() { _ = syscall.Unmount(mnt, syscall.MNT_DETACH) })
		path := filepath.Join(mnt, "s.db")
		s, err := ckpt.Open(path, ckpt.Options{NoWAL: c.nowal, Durability: ckpt.NoSync, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(1)}}})
		if err != nil {
			t.Fatal(err)
		}
		type ack struct{ th, id, v string }
		var acks []ack
		for i := range 400 {
			v := fmt.Sprintf("k0-%d-%0800d", i, i)
			id, err := s.Save(ctx, "k0", map[string]any{"v": v}, nil)
			if err != nil {
				t.Fatal(err)
			}
			acks = append(acks, ack{"k0", id, v})
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		both := &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(2), rekeyKey(1)}}
		if s, err = ckpt.Open(path, ckpt.Options{NoWAL: c.nowal, Encryption: both}); err != nil {
			t.Fatal(err)
		}
		filler := filepath.Join(mnt, "filler")
		h246Fill(t, mnt, filler, 8<<10)
		var mu sync.Mutex
		var failed []ack
		var wg sync.WaitGroup
		for _, d := range []ckpt.Durability{ckpt.Sync, ckpt.Async} {
			wg.Go(func() {
				th := "w-" + d.String()
				wctx := ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: d})
				// More than the log's 4 MB grown ahead, so it needs room too.
				for i := range 800 {
					v := fmt.Sprintf("%s-%d-%03000d", th, i, i)
					id, err := s.Save(wctx, th, map[string]any{"v": v}, nil)
					if err == nil && d == ckpt.Async {
						// The Flush's error names the write if it failed.
						if err = s.Flush(ctx); err != nil && !strings.Contains(err.Error(), id) {
							t.Errorf("%s: %s step %d: the Flush's error does not name the write: %v", name, th, i, err)
						}
					}
					mu.Lock()
					if err != nil {
						if !errors.Is(err, ckpt.ErrDiskFull) {
							t.Errorf("%s: %s step %d: %v, want ErrDiskFull", name, th, i, err)
						}
						failed = append(failed, ack{th, id, v})
					} else {
						acks = append(acks, ack{th, id, v})
					}
					mu.Unlock()
				}
			})
		}
		if c.after {
			wg.Wait()
		}
		_, rerr := s.Rekey(ctx)
		wg.Wait()
		if rerr != nil && !errors.Is(rerr, ckpt.ErrDiskFull) {
			t.Errorf("%s: Rekey on a full disk: %v, want nil or ErrDiskFull", name, rerr)
		}
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		_, again := s.Rekey(ctx)
		if again != nil {
			t.Errorf("%s: Rekey once there is room: %v", name, again)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("%s: Close: %v", name, err)
		}
		keys := &ckpt.Encryption{Keys: []ckpt.Key{rekeyKey(2)}}
		if again != nil {
			keys = both
		}
		s, err = ckpt.Open(path, ckpt.Options{NoWAL: c.nowal, Encryption: keys})
		if err != nil {
			t.Fatalf("%s: reopen: %v", name, err)
		}
		for _, a := range acks {
			tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: a.th, CheckpointID: a.id})
			if err != nil {
				t.Fatalf("%s: acknowledged %s %s: %v", name, a.th, a.id, err)
			}
			if v, err := tp.Checkpoint.ChannelValues["v"].(ckpt.Raw).Value(); err != nil || v != a.v {
				t.Fatalf("%s: acknowledged %s %s: %.30v, %v", name, a.th, a.id, v, err)
			}
		}
		for _, a := range failed {
			if a.id == "" {
				continue // a Sync Save that failed has no id to look for
			}
			if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: a.th, CheckpointID: a.id}); err == nil {
				t.Errorf("%s: the failed write %s %s shows", name, a.th, a.id)
			}
		}
		rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Fatalf("%s: Verify: %v %v", name, err, rep.Problems)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: Rekey %v; %d acknowledged, %d failed", name, rerr, len(acks), len(failed))
	}
}

// h246Fill fills the file system of dir, in file, to about left bytes free.
func h246Fill(t *testing.T, dir, file string, left int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for todo := int64(st.Bavail)*st.Bsize - left; todo > 0; {
		n, err := f.Write(buf[:min(int64(len(buf)), todo)])
		todo -= int64(n)
		if err != nil {
			return // full already
		}
	}
}
