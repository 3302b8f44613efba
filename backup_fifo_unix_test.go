//go:build unix

package ckpt

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestBackupOntoAFIFODoesNotHang: BackupFile looks for a store's lock on
// the file it replaces, and opening a FIFO for reading waits for a writer:
// the backup hung for ever. Only a regular file can be a store; anything
// else at the path is replaced, as before the lock check.
func TestBackupOntoAFIFODoesNotHang(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(filepath.Join(dir, "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Save(ctx, "s", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(dst, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- src.BackupFile(ctx, dst) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("BackupFile onto a FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		// Unblock the backup's open, so that the test ends.
		if f, err := os.OpenFile(dst, os.O_WRONLY, 0); err == nil {
			_ = f.Close()
		}
		<-done
		t.Fatal("BackupFile onto a FIFO hung (opened it to look for a lock)")
	}
	back, err := Open(dst, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("the backup does not open: %v", err)
	}
	_ = back.Close()
}
