//go:build unix

package engine

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestLockReplacedOfAPathSwappedForAFIFODoesNotHang: the path is a
// regular file when LockReplaced looks at it (Lstat) and a FIFO when it
// opens it (another process swapped it in between; lockReplacedOpen does
// it here, just before the open). os.Open of a FIFO waits for a writer
// that never comes: BackupFile and ImportFile hung. The FIFO is no store
// anyone holds; the caller renames over it, so it is left unlocked.
func TestLockReplacedOfAPathSwappedForAFIFODoesNotHang(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dst.db")
	if err := os.WriteFile(path, []byte("a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	swaps := 0
	defer func(o func(string, int, os.FileMode) (*os.File, error)) { lockReplacedOpen = o }(lockReplacedOpen)
	lockReplacedOpen = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		swaps++
		if err := os.Remove(name); err != nil {
			return nil, err
		}
		if err := syscall.Mkfifo(name, 0o600); err != nil {
			t.Skipf("no FIFO here: %v", err)
		}
		return os.OpenFile(name, flag, perm)
	}
	type res struct {
		held bool
		err  error
	}
	done := make(chan res, 1)
	go func() {
		release, held, err := LockReplaced(path)
		if release != nil {
			release()
		}
		done <- res{held, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || r.held {
			t.Errorf("LockReplaced: held %v, %v; want a FIFO left unlocked (nil, not held)", r.held, r.err)
		}
	case <-time.After(30 * time.Second):
		// Unblock the open (a writer comes) so the goroutine ends.
		if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = w.Close()
		}
		t.Fatal("LockReplaced hung on a FIFO swapped in after its look at the path")
	}
	if swaps != 1 {
		t.Errorf("the path was swapped %d times, want 1", swaps)
	}
}
