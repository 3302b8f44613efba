//go:build linux

package powerfs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// TestH232StreamedBackupTempFsyncNoRoom: Backup to an io.Writer of a
// read-only store whose file says a log is live beside it builds the copy
// in a temporary file of its own in os.TempDir (streamThroughTemp), and an
// fsync of that file fails with ENOSPC or EDQUOT, as a copy-on-write file
// system or a quota can at writeback. As with BackupFile's and Compact's
// own files (TestH227OwnFileFsyncNoRoom), the temporary file is removed
// and the store goes on: the error must be ErrDiskFull wrapping the
// errno, not ErrFailed nor the errno alone; the writer's next Save and
// the same Backup once the fault is gone must succeed.
func TestH232StreamedBackupTempFsyncNoRoom(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		t.Run(errnoName(errno), func(t *testing.T) {
			h227EachOwnFsync(t, "Backup", false, errno, "the backup's temporary file")
		})
	}
}

func init() {
	// The child's store, s (read-write, on the mount), has its log applied
	// (ApplyLog) and its file and log copied off the mount as a crash
	// would leave them: the copy's file says a log is live beside it, so a
	// read-only store on it backs up through a temporary file, put on the
	// mount (TMPDIR), the only file there other than s's own.
	h227Ops["Backup"] = func(ctx context.Context, s *ckpt.Store, dir string) error {
		if err := s.ApplyLog(ctx); err != nil {
			return err
		}
		off, err := os.MkdirTemp("", "ckpt-h232-copy-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(off)
		for _, suffix := range []string{"", "-wal"} {
			if err := h232Copy(filepath.Join(dir, "s.db"+suffix), filepath.Join(off, "s.db"+suffix)); err != nil {
				return err
			}
		}
		ro, err := ckpt.Open(filepath.Join(off, "s.db"), ckpt.Options{ReadOnly: true})
		if err != nil {
			return err
		}
		defer ro.Close()
		was, set := os.LookupEnv("TMPDIR")
		os.Setenv("TMPDIR", dir) // os.TempDir on Linux
		defer func() {
			if set {
				os.Setenv("TMPDIR", was)
			} else {
				os.Unsetenv("TMPDIR")
			}
		}()
		return ro.Backup(ctx, io.Discard)
	}
}

func h232Copy(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

// TestH232ExportSpoolWriteNoRoom: Export spools a thread's dump past 4 MB
// to a temporary file of its own beside the store (spool.spill), removed
// when the export ends; a write to it that finds no room (ENOSPC, EDQUOT)
// fails the export alone, the store going on, which is ErrDiskFull's
// promise: the error must say ErrDiskFull wrapping the errno (it said the
// errno alone), the writer's next Save and the same export once the
// fault is gone must succeed.
func TestH232ExportSpoolWriteNoRoom(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		t.Run(errnoName(errno), func(t *testing.T) {
			// Each of the spool's writes in turn.
			struck := 0
			for n := 1; n <= 20; n++ {
				r, hit := h227RunFault(t, "Export", false, Fault{Call: CallWrite, Target: TargetOther, N: n, Errno: errno})
				if !r.Op {
					break // fewer writes (the fault struck a later call, or none)
				}
				if !hit {
					t.Fatalf("write %d: Export with no fault: %s", n, r.Err)
				}
				struck++
				if !r.DiskFull || (errno == syscall.ENOSPC) != r.ENOSPC || (errno == syscall.EDQUOT) != r.EDQUOT {
					t.Errorf("write %d: Export whose spool found no room: %s; want ErrDiskFull wrapping %v", n, r.Err, errno)
				}
				if r.Failed || r.SaveAfter != "" || r.Again != "" || r.CloseAfter != "" {
					t.Errorf("write %d: Export failed, the store must go on: failed %v, save after %q, again %q, close %q", n, r.Failed, r.SaveAfter, r.Again, r.CloseAfter)
				}
			}
			if struck == 0 {
				t.Fatal("no write of the export's spool was struck")
			}
			t.Logf("%d writes struck in turn", struck)
		})
	}
}

func init() {
	// A thread whose dump is past the export's spool memory (4 MB) is
	// spooled to a file beside the store, on the mount.
	h227Ops["Export"] = func(ctx context.Context, s *ckpt.Store, dir string) error {
		if _, err := s.Save(ctx, "big", map[string]any{"pad": make([]byte, 5<<20)}, nil); err != nil {
			return err
		}
		_, err := s.Export(ctx, io.Discard, ckpt.ExportOptions{Threads: []string{"big"}})
		return err
	}
}
