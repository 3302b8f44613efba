package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// crashedStoreFiles returns the bytes of a store file and of its log as a
// writer killed before its applier ran leaves them: the file alone lacks
// the logged checkpoint, which only the log holds.
func crashedStoreFiles(t *testing.T) (db, wal []byte) {
	t.Helper()
	s := openUnapplied(t, filepath.Join(t.TempDir(), "crashed.db"))
	if _, err := s.Save(context.Background(), "foreign", map[string]any{"v": "logged only"}, nil); err != nil {
		t.Fatal(err)
	}
	src := crashCopy(t, s)
	db, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if wal, err = os.ReadFile(src + walSuffix); err != nil {
		t.Fatal(err)
	}
	return db, wal
}

// TestBackupRefusesADestinationThatGotALogDuringTheCopy: BackupFile
// refuses a destination with a -wal beside it, since the copy would be read
// together with that foreign log at the next Open; but it looked only at
// the start. A store opened at the destination during the copy that
// crashed (or a log put there otherwise) left a -wal beside it, and the
// copy was linked or renamed in beside that log. The backup must refuse
// then too, and leave what is at the destination as it found it.
func TestBackupRefusesADestinationThatGotALogDuringTheCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, err := Open(filepath.Join(t.TempDir(), "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() }) // after the parallel subtests
	for i := range 50 {                   // a copy of a few chunks, so that progress runs mid-copy
		if _, err := src.Save(ctx, backupThread(i), backupState(i, 0), nil); err != nil {
			t.Fatal(err)
		}
	}
	crashedDB, crashedWAL := crashedStoreFiles(t)
	earlier := []byte("an earlier backup's bytes")

	for _, tc := range []struct {
		name        string
		present     bool // a file at the destination before the backup
		crashedFile bool // the crashed store's file appears during the copy
	}{
		{"absent destination, a crashed store appears", false, true},
		{"absent destination, a log alone appears", false, false},
		{"present destination, a log appears", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := filepath.Join(t.TempDir(), "dst.db")
			if tc.present {
				if err := os.WriteFile(dst, earlier, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var once sync.Once
			var placeErr error
			during := func(written, total int64) {
				once.Do(func() {
					if tc.crashedFile {
						placeErr = os.WriteFile(dst, crashedDB, 0o600)
					}
					placeErr = errors.Join(placeErr, os.WriteFile(dst+walSuffix, crashedWAL, 0o600))
				})
			}
			err := src.BackupFile(ctx, dst, BackupProgress(during))
			if placeErr != nil {
				t.Fatal(placeErr)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("BackupFile onto a destination that got a log during the copy returned %v, want ErrInvalidConfig", err)
			}
			want := []byte(nil)
			switch {
			case tc.crashedFile:
				want = crashedDB
			case tc.present:
				want = earlier
			}
			got, err := os.ReadFile(dst)
			switch {
			case want == nil && !errors.Is(err, os.ErrNotExist):
				t.Errorf("the backup left a file at the destination (%d bytes, %v), beside a foreign log", len(got), err)
			case want != nil && (err != nil || !bytes.Equal(got, want)):
				t.Errorf("the destination was replaced (%d bytes, %v), beside a foreign log", len(got), err)
			}
			if left := backupTemps(t, dst); len(left) > 0 {
				t.Errorf("the refused backup left its temporary file(s) %v", left)
			}
		})
	}
}
