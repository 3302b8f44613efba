package ckpt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestAReadWriteOpenThatCannotStartItsLogLeavesTheFileAsItWas: a
// read-write Open of an existing store whose log cannot be created (a
// directory without write permission: 'ckpt gc' there said "FILE-wal:
// permission denied"; here, as the tests may run as root, whom no
// permission stops, a symbolic link at the log's path into a directory
// that does not exist: the log's create fails at the same point). Open
// committed its Init transaction first, which changed nothing, but bbolt
// wrote a meta page all the same (a transaction id, a checksum): the
// refused Open changed the file. Init's transaction commits only when it
// wrote something.
func TestAReadWriteOpenThatCannotStartItsLogLeavesTheFileAsItWas(t *testing.T) {
	t.Parallel()
	path, _ := existingStore(t)
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(t.TempDir(), "no-such-dir", "log"), path+walSuffix); err != nil {
		t.Skipf("no symbolic link here: %v", err)
	}
	s, err := Open(path, Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open succeeded although its log could not be created")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open: %v, want the log's create error", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the refused Open changed %s", path)
	}
	// The file still opens once the log can be created.
	if err := os.Remove(path + walSuffix); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
