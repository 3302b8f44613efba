package engine

import (
	"errors"
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

// openDamagedLog copies the store at path (and its log) into a new folder
// dir with the log's bytes changed by damage, as the medium may change
// them after every fsync ended, and opens the copy with opts (no hooks):
// nil if Open refused it with ErrCorrupt; any other error fails the test.
// The caller closes what it returns.
func openDamagedLog(t *testing.T, path, dir string, opts Options, damage func(log []byte)) *Engine {
	t.Helper()
	cp := crashCopyFiles(t, path, dir, func(suffix string, data []byte) {
		if suffix == "-wal" {
			damage(data)
		}
	})
	opts.LogPath, opts.Hooks = cp+"-wal", Hooks{}
	d, err := Open(cp, opts)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open of the damaged copy = %v, want ErrCorrupt or success", err)
		}
		return nil
	}
	return d
}

// zeroBody zeroes the first bytes of record r's body.
func zeroBody(r logRecord) func(log []byte) {
	return func(log []byte) { clear(log[r.off+recHeader : r.off+recHeader+min(8, r.size-recHeader)]) }
}
