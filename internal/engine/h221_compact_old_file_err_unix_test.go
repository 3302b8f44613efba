//go:build unix

package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestCompactErrKeepsTheOldFilesName: compactErr names the new file by
// its temporary name in an *os.PathError naming the store's path (the
// new file's handle is named so: namedHandle). But the copy's page check
// (checkTx) opens and reads the OLD file, by that same path: its failure
// (an open refused, an EIO reading a page) was said of s.db.compact, a
// file that had not failed, and the old one's trouble went unnamed
// ("open the store's file to check its pages: open .../e.db.compact").
// Here the path is made a symbolic link loop just as the copy begins
// (bo.OpenFile of the temporary file, deterministic): checkTx's open
// fails with ELOOP on the store's path, and the error must say that path,
// in its text and in the *os.PathError errors.As finds (compactErr set
// its Path to s.db.compact: the text, formatted before, still said e.db).
func TestCompactErrKeepsTheOldFilesName(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "e.db")
	tmp := compactTempPath(path)
	aside := path + ".aside"
	var armed, swapped atomic.Bool
	e, err := Open(path, Options{
		Bolt: bolt.Options{Timeout: time.Minute, OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			if armed.Load() && name == tmp && !swapped.Swap(true) {
				if err := os.Rename(path, aside); err != nil {
					return nil, err
				}
				if err := os.Symlink(filepath.Base(path), path); err != nil {
					t.Skipf("no symbolic link here: %v", err)
				}
			}
			return os.OpenFile(name, flag, perm)
		}},
		LogPath:  path + "-wal",
		NoWAL:    true,
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if err := do(e, put("k")); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	err = do(e, &Op{Solo: func() error {
		_, err := e.Compact(context.Background(), nil)
		return err
	}})
	if swapped.Load() {
		if rerr := os.Remove(path); rerr != nil {
			t.Fatal(rerr)
		}
		if rerr := os.Rename(aside, path); rerr != nil {
			t.Fatal(rerr)
		}
	}
	if !swapped.Load() {
		t.Fatal("setup: the temporary file was not opened through the hook")
	}
	if err == nil {
		t.Fatal("Compact with the store's path a symbolic link loop during the copy succeeded")
	}
	if strings.Contains(err.Error(), tmp+":") {
		t.Errorf("Compact: %v\nit blames %s, which did not fail: the old file at %s did", err, tmp, path)
	}
	if !strings.Contains(err.Error(), path+":") {
		t.Errorf("Compact: %v\nit does not name %s, whose open failed", err, path)
	}
	// errors.As gives the same *os.PathError a caller reads the file
	// from: it must name the file whose open failed.
	if pe, ok := errors.AsType[*os.PathError](err); !ok || pe.Path != path {
		t.Errorf("Compact: %v\nits *os.PathError is %#v, want one naming %s", err, pe, path)
	}
	if _, serr := os.Lstat(tmp); serr == nil {
		t.Errorf("%s left behind", tmp)
	}
}
