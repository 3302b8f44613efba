//go:build linux

package engine

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestH250BarrierSharingAFullLogGroupLeavesTheAsyncFailure is
// TestH250BarrierSharingAFullGroupLeavesTheAsyncFailure with the log,
// on a real full disk (a tmpfs, root only): the shared group's record
// finds no room to grow the log (ErrDiskFull, the group failed alone).
func TestH250BarrierSharingAFullLogGroupLeavesTheAsyncFailure(t *testing.T) {
	t.Parallel()
	mnt := mountTmpfs(t, 2<<20)
	for _, keep := range []bool{true, false} {
		t.Run(fmt.Sprintf("KeepAsync=%v", keep), func(t *testing.T) {
			dir, err := os.MkdirTemp(mnt, "s")
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			path := filepath.Join(dir, "e.db")
			e, err := Open(path, Options{
				Bolt:     bolt.Options{Timeout: time.Minute},
				LogPath:  path + "-wal",
				Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
				Observer: nopObserver{},
				Hooks:    Hooks{LogGrow: 8192},
			})
			if err != nil {
				t.Fatal(err)
			}
			filler := filepath.Join(mnt, "filler")
			defer os.Remove(filler)
			setFull := func(full bool) {
				if !full {
					if err := os.Remove(filler); err != nil {
						t.Error(err)
					}
					return
				}
				if err := h32Fill(filler, 0); err != nil {
					t.Error(err)
				}
			}
			// Past the log's room: its growth finds none.
			big := bytes.Repeat([]byte{7}, 256<<10)
			async := &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("async"), big) }}
			h250SharedGroup(t, e, keep, setFull, async)
		})
	}
}
