package engine

import (
	"os"
	"path/filepath"
	"testing"
)

// crashCopyFiles copies the store's file at path and its log
// (path+"-wal"), as they are now, into a new folder dir under the same
// names, and returns the copy's path: what a process killed at this
// moment leaves (the page cache's bytes, fsync'd or not). edit, if set,
// changes a file's bytes (suffix "" or "-wal") before they are written:
// damage on the medium, say.
func crashCopyFiles(t *testing.T, path, dir string, edit func(suffix string, data []byte)) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(dir, filepath.Base(path))
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(suffix, data)
		}
		if err := os.WriteFile(cp+suffix, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cp
}
