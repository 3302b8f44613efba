//go:build unix

package ckpt_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// TestH165LogThatIsAFIFOIsRefused: a named pipe where the store's
// write-ahead log belongs (a tool's, or an operator's mkfifo) made Open
// read it, and reading a pipe waits for a writer that may never come, in
// a system call no signal ends: every ckpt command hung on the file,
// Ctrl-C and SIGTERM included. Open refuses it, read-only or not, naming
// the log, and leaves it where it is.
func TestH165LogThatIsAFIFOIsRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(context.Background(), "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(path+"-wal", 0o600); err != nil {
		t.Fatal(err)
	}
	for _, readOnly := range []bool{true, false} {
		done := make(chan error, 1)
		go func() {
			s, err := ckpt.Open(path, ckpt.Options{ReadOnly: readOnly})
			if err == nil {
				err = errors.Join(errors.New("opened"), s.Close())
			}
			done <- err
		}()
		select {
		case err = <-done:
		case <-time.After(time.Minute): // only a failure detector
			t.Fatalf("Open (read-only %v) still waiting on the pipe a minute later", readOnly)
		}
		// ErrCorrupt naming the log (no log of this store: `ckpt
		// recover` moves it aside, h166_fifo_log_unix_test.go).
		if !errors.Is(err, ckpt.ErrCorrupt) || !strings.Contains(err.Error(), path+"-wal") || !strings.Contains(err.Error(), "named pipe") {
			t.Fatalf("Open (read-only %v): %v; want ErrCorrupt naming %s-wal as a named pipe", readOnly, err, path)
		}
	}
}
