package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
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

// readOnlyWithLog returns a read-only store whose file holds some
// checkpoints and whose log (a crashed writer's) holds more, and every
// checkpoint it holds.
func readOnlyWithLog(t *testing.T) (*Store, []backupAck) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "src.db")
	var acked []backupAck
	save := func(s *Store, step int) {
		id, err := s.Save(ctx, backupThread(0), backupState(0, step), Metadata{"step": step})
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, backupAck{0, step, id})
	}
	w, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for step := range 20 {
		save(w, step)
	}
	if err := w.Close(); err != nil { // the first 20 in the file
		t.Fatal(err)
	}
	u := openUnapplied(t, path)
	for step := 20; step < 40; step++ {
		save(u, step) // the next 20 in the log only
	}
	r, err := Open(crashCopy(t, u), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, acked
}

// TestTwoBackupsOfAReadOnlyStoreLeaveAWholeCopy: a backup removes the
// temporary files it finds beside its destination (a killed backup's), and
// so the temporary file of another backup to the same destination still
// running. A read-only store with a log writes the log into its copy by
// opening the temporary file with bbolt, which created a new, empty file
// at the removed name: the log's groups went into that one, and it was
// linked to the destination, a copy missing everything the source's file
// held. Whatever each backup returns, the destination must be absent or a
// whole copy, and the later backup must succeed.
func TestTwoBackupsOfAReadOnlyStoreLeaveAWholeCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, acked := readOnlyWithLog(t)
	dst := filepath.Join(t.TempDir(), "dst.db")
	second := make(chan error, 1)
	release := make(chan struct{}) // holds the second backup until the first is checked
	var releaseOnce sync.Once
	releaseSecond := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseSecond() // a failed check must not leave it (and Close) waiting
	var once sync.Once
	var waitErr error
	first := func(written, total int64) {
		once.Do(func() {
			mine := backupTemps(t, dst)
			go func() {
				second <- r.BackupFile(ctx, dst, BackupProgress(func(int64, int64) { <-release }))
			}()
			// The second backup waits for this one (one backup at a time)
			// once it has cleaned up and made its own temporary file.
			for {
				now := backupTemps(t, dst)
				if len(now) == 1 && (len(mine) != 1 || now[0] != mine[0]) {
					return
				}
				select {
				case err := <-second:
					waitErr = fmt.Errorf("the second backup ended before it made its temporary file: %v", err)
					return
				case <-time.After(time.Millisecond):
				}
			}
		})
	}
	firstErr := r.BackupFile(ctx, dst, BackupProgress(first))
	if waitErr != nil {
		t.Fatal(waitErr)
	}
	t.Logf("the first backup, its temporary file removed by the second: %v", firstErr)
	if _, err := os.Stat(dst); err == nil {
		checkBackupCopy(t, dst, acked)
	} else if firstErr == nil {
		t.Errorf("the first backup returned nil and left no copy: %v", err)
	}
	releaseSecond()
	if err := <-second; err != nil {
		t.Fatalf("the second backup: %v", err)
	}
	checkBackupCopy(t, dst, acked)
	if left := backupTemps(t, dst); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
