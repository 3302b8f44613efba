//go:build unix

package main

import (
	"path/filepath"
	"syscall"
	"testing"
)

// TestAFIFOIsNamedForWhatItIs: a FIFO given where a store belongs. The
// commands refused it (exit status 1, no hang) as "is empty, not a ckpt
// store": its size is 0, so the words were the empty file's, and the
// user was told the file holds nothing rather than that it is no file at
// all. Each command, recover too, must name it a named pipe.
func TestAFIFOIsNamedForWhatItIs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "pipe.db")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	for _, args := range append(readCommands(p, nil), []string{"recover", p}) {
		failsWith(t, runIn(t, dir, "", args...), 1, "pipe.db is a named pipe (FIFO), not a store file")
	}
}
