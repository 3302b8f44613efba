package ckpt

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Backup to a writer of a read-only store whose file lacks groups of its
// log builds the copy in a temporary file in os.TempDir. Where that fails
// (TMPDIR a directory that is not there), the error named the file
// ("open /…/ckpt-backup-123.tmp: no such file or directory"), a hidden
// name the caller never gave and cannot find afterwards. It must say what
// failed, name the directory (where room or permission is wanting), wrap
// the OS error, and not name the temporary file. Not parallel: TMPDIR.
func TestH183BackupToWriterNamesNoHiddenTemp(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	saveN(t, s, "t", 0, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	w := openUnapplied(t, path)
	saveN(t, w, "t", 2, 2)
	cp := crashCopy(t, w)
	ro, err := Open(cp, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	for _, v := range []string{"TMPDIR", "TMP", "TEMP"} {
		t.Setenv(v, missing)
	}
	var buf bytes.Buffer
	err = ro.Backup(ctx, &buf)
	if err == nil {
		t.Fatal("Backup with os.TempDir missing: nil error, want the temporary copy's failure")
	}
	if msg := err.Error(); strings.Contains(msg, "ckpt-backup-") || strings.Contains(msg, backupTempSuffix) ||
		!strings.Contains(msg, "temporary copy") || !strings.Contains(msg, missing) {
		t.Errorf("Backup's error = %q, want it to say the temporary copy in %s failed, without the temporary file's name", msg, missing)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Backup's error = %v, want it to wrap the OS error (fs.ErrNotExist)", err)
	}
	if buf.Len() != 0 {
		t.Errorf("Backup wrote %d bytes to w before failing", buf.Len())
	}
}
