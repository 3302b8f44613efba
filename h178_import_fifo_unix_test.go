//go:build unix

package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestH178ImportFileWhoseNewFileBecameAFIFODoesNotHang: ImportFile opens
// its new file (path.import) as a store, then a second time by its path
// for a descriptor of its own (the lock it keeps until the link). If
// another process renamed the file away and put a FIFO at that path in
// between, that plain open for reading waited for a writer that never
// comes: ImportFile hung (on 1fd6b4c this test runs until go test's
// -timeout). It must return an error that says what is at the path, and
// leave no file at path.
func TestH178ImportFileWhoseNewFileBecameAFIFODoesNotHang(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "src.ckpt"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Save(ctx, "t", map[string]any{"a": 1}, nil); err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	if _, err := src.Export(ctx, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "new.ckpt")
	tmp := importTempPath(path)
	var swapErr error
	opts := Options{tuning: &tuning{importOpened: func() {
		if swapErr = os.Rename(tmp, filepath.Join(dir, "moved.ckpt")); swapErr == nil {
			swapErr = syscall.Mkfifo(tmp, 0o600)
		}
	}}}
	_, err = ImportFile(ctx, path, bytes.NewReader(dump.Bytes()), opts, ImportOptions{})
	if swapErr != nil {
		t.Skipf("no FIFO here: %v", swapErr)
	}
	if err == nil || !strings.Contains(err.Error(), "named pipe") || !strings.Contains(err.Error(), tmp) {
		t.Errorf("ImportFile whose new file became a FIFO = %v, want an error naming %s a named pipe", err, tmp)
	}
	if _, serr := os.Stat(path); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("a failed ImportFile left a file at %s (%v)", path, serr)
	}
}
