//go:build unix

package engine

import (
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestH204NewFileDropFails: OpenBolt makes a new file, cannot fsync its
// directory, and cannot take the file back either (the directory lost
// its write permission meanwhile: mode 0100, so the removal fails). The
// Open fails; its error must say the file is left behind (the removal's
// own error in it, errors.As a *fs.PathError of op "remove" on the
// file): freshFile.drop ignored it, and the caller was told only of the
// fsync, with a whole empty store left at the path it believed untouched.
// The next read-write Open, with the log or NoWAL, takes the file left
// for a store (bbolt's pages are whole) and must still meet the
// directory's fsync and fail, never take writes into a file whose name a
// power cut may take.
func TestH204NewFileDropFails(t *testing.T) {
	h204AsNobody(t, "TestH204NewFileDropFails", h204DropFailsBody)
}

func h204DropFailsBody(t *testing.T, parent string) {
	dir := filepath.Join(parent, "x-"+strconv.Itoa(os.Getpid()))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700) // for the removal of parent
	if err := os.Chmod(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Close()
		t.Fatalf("a mode 0300 directory opened for reading (running as uid %d): the test cannot make the fsync fail", os.Geteuid())
	}
	path := filepath.Join(dir, "store.db")
	bo := &bolt.Options{Timeout: time.Second, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err == nil {
			// Made: from here the directory takes no removal.
			err = os.Chmod(dir, 0o100)
		}
		return f, err
	}}
	db, _, err := OpenBolt(path, bo)
	if err == nil {
		_ = db.Close()
		t.Fatal("Open of a new file in a directory that cannot be fsync'd succeeded")
	}
	t.Logf("Open: %v", err)
	if err := os.Chmod(dir, 0o300); err != nil {
		t.Fatal(err)
	}
	fi, serr := os.Stat(path)
	if serr != nil {
		t.Fatalf("the removal was to fail, and %s is gone: %v", path, serr)
	}
	if !h204HasRemoveError(err, path) {
		t.Errorf("the failed Open left %s behind (%d bytes) and its error does not say so (no failed removal of it in it): %v", path, fi.Size(), err)
	}
	for _, noWAL := range []bool{true, false} {
		e, err := Open(path, Options{
			Bolt:     bolt.Options{Timeout: time.Second},
			LogPath:  path + "-wal",
			NoWAL:    noWAL,
			Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
			Observer: nopObserver{},
		})
		if err == nil {
			_ = e.Close()
			t.Fatalf("NoWAL %v: the next read-write Open of the file left behind succeeded in a directory that cannot be fsync'd", noWAL)
		}
		t.Logf("NoWAL %v: next Open: %v", noWAL, err)
	}
}

// h204HasRemoveError tells whether err holds a *fs.PathError of a
// removal of path (anywhere in its tree: errors.As stops at the first).
func h204HasRemoveError(err error, path string) bool {
	if pe, ok := err.(*fs.PathError); ok && pe.Op == "remove" && pe.Path == path {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if h204HasRemoveError(e, path) {
				return true
			}
		}
	case interface{ Unwrap() error }:
		return h204HasRemoveError(u.Unwrap(), path)
	}
	return false
}
