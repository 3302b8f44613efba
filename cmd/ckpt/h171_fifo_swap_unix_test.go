//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// swapInFIFO makes openToLook replace the file at the path it opens by a
// FIFO just before the open (another process's swap between the
// command's look at the path and its open), once; it returns how many
// swaps were made so far.
func swapInFIFO(t *testing.T) *int {
	t.Helper()
	swaps := 0
	old := openToLook
	t.Cleanup(func() { openToLook = old })
	openToLook = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		swaps++
		if err := os.Remove(name); err != nil {
			return nil, err
		}
		if err := syscall.Mkfifo(name, 0o600); err != nil {
			t.Skipf("no FIFO here: %v", err)
		}
		return os.OpenFile(name, flag, perm)
	}
	return &swaps
}

// noHang runs f and fails the test if it has not returned within
// 30 s (then a writer opens the FIFO at fifo, so that a read-only open
// waiting there returns).
func noHang(t *testing.T, fifo, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = w.Close()
		}
		<-done
		t.Fatalf("%s hung on a FIFO swapped in after its look at the path", what)
	}
}

// TestCheckFileOfAPathSwappedForAFIFO: a store file when checkFile
// looks at it (os.Stat), a FIFO when foreignFile opens it to read its
// first bytes. The open waited for a writer for ever: every command
// given the path hung. It must refuse the file for what it is once
// opened, a named pipe.
func TestCheckFileOfAPathSwappedForAFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	swaps := swapInFIFO(t)
	var err error
	noHang(t, path, "checkFile", func() { err = checkFile(path) })
	if err == nil || !strings.Contains(err.Error(), "s.db is a named pipe (FIFO), not a store file") {
		t.Errorf("checkFile: %v, want it to name the FIFO", err)
	}
	if *swaps != 1 {
		t.Errorf("the path was swapped %d times, want 1", *swaps)
	}
}

// TestDumpLeftoverSwappedForAFIFO: an export's leftover temporary file
// is a regular file when removeDumpLeftovers lists the directory, a FIFO
// when it opens it to lock it. The open waited for a writer for ever:
// 'ckpt export' hung before writing a byte. The FIFO is no leftover of
// an export's: it stays.
func TestDumpLeftoverSwappedForAFIFO(t *testing.T) {
	dir := t.TempDir()
	left := filepath.Join(dir, ".out.jsonl.ckpt-export-123.tmp")
	if err := os.WriteFile(left, []byte("half a dump"), 0o600); err != nil {
		t.Fatal(err)
	}
	swaps := swapInFIFO(t)
	noHang(t, left, "removeDumpLeftovers", func() { removeDumpLeftovers(dir, "out.jsonl") })
	if fi, err := os.Lstat(left); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO swapped in: %v, %v; want it left in place", fi, err)
	}
	if *swaps != 1 {
		t.Errorf("the path was swapped %d times, want 1", *swaps)
	}
}
