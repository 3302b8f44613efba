//go:build unix

package engine

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestAStorePathThatBecomesAFIFOIsNotOpened: the store's path is a
// regular file when OpenBolt looks at it (os.Stat) and a FIFO when it
// opens it (another process swapped it in between; bo.OpenFile does it
// here, deterministically, just before the open). The open of a FIFO for
// reading waits for a writer that never comes, and a read of one opened
// read-write waits for data: Open hung. The file must be refused, at
// once, for what it is when opened, not for what it was a moment before.
func TestAStorePathThatBecomesAFIFOIsNotOpened(t *testing.T) {
	t.Parallel()
	for _, ro := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "s.db")
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		swaps := 0
		bo := &bolt.Options{Timeout: time.Minute, ReadOnly: ro, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if swaps == 0 {
				swaps++
				if err := os.Remove(name); err != nil {
					return nil, err
				}
				if err := syscall.Mkfifo(name, 0o600); err != nil {
					t.Skipf("no FIFO here: %v", err)
				}
			}
			return os.OpenFile(name, flag, perm)
		}}
		db, f, err := OpenBolt(path, bo)
		if err == nil {
			t.Errorf("read-only %v: OpenBolt of a path swapped for a FIFO succeeded", ro)
			_ = closeBolt(db)
			_ = f.Close()
		} else if !errors.Is(err, ErrCorrupt) {
			t.Errorf("read-only %v: OpenBolt: %v, want ErrCorrupt", ro, err)
		}
		if swaps != 1 {
			t.Errorf("read-only %v: the path was swapped %d times, want 1", ro, swaps)
		}
	}
}
