//go:build unix

package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestCompactFailedDirSyncReopenCompacts: after Compact's fsync of the
// directory failed behind its rename, that rename may never be durable
// (powerfs/compact_dirsync_test.go shows a power cut bringing back the old
// file without the writes a reopen acknowledged). The next read-write
// Open therefore puts a new file in place under a new rename (another
// file than the one the failed Compact left) before it acknowledges
// anything; an Open whose own directory fsync fails fails (the cause
// wrapped), and the one after compacts; once a compaction's fsync
// succeeded, Opens leave the file as it is (the mark does not travel
// with the copy). A read-only Open changes nothing. (Unix: the files held open to
// tell them apart would stop the renames on Windows.)
func TestCompactFailedDirSyncReopenCompacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newSwapFault()
	boom, failDir, tune := f.boom, &f.fail, f.tuning()
	for _, nowal := range []bool{false, true} {
		failDir.Store(false)
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		failDir.Store(true)
		if _, err := s.Compact(ctx, nil); !errors.Is(err, boom) {
			t.Fatalf("nowal %v: Compact with a failed directory fsync = %v, want its cause", nowal, err)
		}
		_ = s.Close()
		// Each file is held open, so that its inode number is not
		// reused by the next and SameFile tells them apart.
		stat := func() os.FileInfo {
			t.Helper()
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = f.Close() })
			fi, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			return fi
		}
		swapped := stat()
		// Read-only: nothing changes.
		s, err = Open(path, Options{NoWAL: nowal, ReadOnly: true})
		if err != nil {
			t.Fatalf("nowal %v: read-only Open: %v", nowal, err)
		}
		_ = s.Close()
		if !os.SameFile(swapped, stat()) {
			t.Fatalf("nowal %v: a read-only Open replaced the file", nowal)
		}
		// The Open's own compaction meets a failed directory fsync.
		s, err = Open(path, Options{NoWAL: nowal, tuning: tune})
		if err == nil {
			_ = s.Close()
			t.Fatalf("nowal %v: Open whose compaction's directory fsync failed succeeded", nowal)
		}
		if !errors.Is(err, boom) {
			t.Fatalf("nowal %v: Open whose compaction's directory fsync failed = %v, want its cause", nowal, err)
		}
		failed := stat()
		failDir.Store(false)
		s, err = Open(path, Options{NoWAL: nowal, tuning: tune})
		if err != nil {
			t.Fatalf("nowal %v: reopen: %v", nowal, err)
		}
		again := stat()
		if os.SameFile(failed, again) || os.SameFile(swapped, again) {
			t.Fatalf("nowal %v: the reopen wrote on the file a compaction with a failed directory fsync renamed into place", nowal)
		}
		if _, err := s.Load(ctx, "t", id); err != nil {
			t.Fatalf("nowal %v: %v", nowal, err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"v": 2}, nil); err != nil {
			t.Fatalf("nowal %v: Save after the reopen: %v", nowal, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(path, Options{NoWAL: nowal})
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(again, stat()) {
			t.Errorf("nowal %v: an Open after a good compaction replaced the file again", nowal)
		}
		rep, err := s.Verify(ctx, VerifyOptions{})
		if err != nil || !rep.OK() {
			t.Errorf("nowal %v: Verify: %v %v", nowal, err, rep)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
