//go:build linux

package powerfs

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

// TestH227OwnFileFsyncNoRoom: the fsync of a file Compact or BackupFile
// writes for itself (s.db.compact, the backup's temporary file) fails
// with ENOSPC or EDQUOT, as a copy-on-write file system or a quota can at
// writeback. The operation leaves nothing of itself and the store goes
// on (no fail-stop: the store's own files were not touched), which is
// ErrDiskFull's promise: the error must say ErrDiskFull (it said only the
// errno), the store must take the next write, and the same operation
// must succeed once the fault is gone. The failed fsync is not retried:
// the file is removed.
func TestH227OwnFileFsyncNoRoom(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT} {
		for _, wal := range []bool{true, false} {
			for _, op := range []string{"Compact", "BackupFile"} {
				name := op + "/" + errnoName(errno)
				if !wal {
					name += "/nowal"
				}
				t.Run(name, func(t *testing.T) {
					// Each of the operation's own fsyncs in turn (a new
					// file's first pages, a replayed log, the copy's last).
					h227EachOwnFsync(t, op, !wal, errno, "the operation's own files")
				})
			}
		}
	}
}

// TestH227StoreFsyncNoRoom: the fsync of the store's own log or file
// fails with ENOSPC. That is not ErrDiskFull (whose promise is that the
// store goes on: the kernel may have dropped the pages it could not
// write, so it stops, ErrFailed), but the errno stays in the error, so
// errors.Is(err, syscall.ENOSPC) tells a full disk was the cause.
func TestH227StoreFsyncNoRoom(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	for _, c := range []struct {
		name   string
		noWAL  bool
		target Target
	}{
		{"log", false, TargetLog},
		{"nowal-db", true, TargetDB},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The child's Open and first Save fsync the store's files
			// too: the fault strikes the first fsync of the op's Save.
			var base h227Result
			var hit bool
			n := 1
			for ; n <= 20; n++ {
				base, hit = h227Run(t, "SaveSync", c.noWAL, c.target, n, syscall.ENOSPC)
				if hit && base.Op {
					break
				}
			}
			if !hit || !base.Op {
				t.Fatalf("the fault never struck the Save's fsync")
			}
			if !base.Failed || !base.ENOSPC {
				t.Errorf("save whose fsync found no room: %s; want ErrFailed wrapping ENOSPC", base.Err)
			}
			if base.DiskFull {
				t.Errorf("save whose fsync failed: %s; want no ErrDiskFull (the store stopped)", base.Err)
			}
		})
	}
}

// h227Child is the environment variable naming the mount in which
// TestH227OwnFsyncChild runs an operation, and h227Op that operation:
// the store runs in a child process, as every powerfs test's does (a
// process serving the FUSE mount of a file it maps can deadlock on its
// own page fault).
const (
	h227Child = "CKPT_H227_DIR"
	h227Op    = "CKPT_H227_OP"
	h227NoWAL = "CKPT_H227_NOWAL"
	h227Out   = "CKPT_H227_OUT"
)

// h227Result is what the child saw.
type h227Result struct {
	Op                           bool // the op returned an error (an earlier call did not)
	Err                          string
	DiskFull, ENOSPC, EDQUOT     bool
	Failed, NotDurable           bool
	SaveAfter, Again, CloseAfter string
}

var h227Ops = map[string]func(context.Context, *ckpt.Store, string) error{
	"Compact": func(ctx context.Context, s *ckpt.Store, _ string) error { _, err := s.Compact(ctx, nil); return err },
	"SaveSync": func(ctx context.Context, s *ckpt.Store, _ string) error {
		_, err := s.Save(ckpt.WithWriteOptions(ctx, ckpt.WriteOptions{Durability: ckpt.Sync}), "t", map[string]any{"v": 3}, nil)
		return err
	},
	"BackupFile": func(ctx context.Context, s *ckpt.Store, dir string) error {
		return s.BackupFile(ctx, filepath.Join(dir, "b.db"))
	},
}

// TestH227OwnFsyncChild is the child of TestH227OwnFileFsyncNoRoom.
func TestH227OwnFsyncChild(t *testing.T) {
	dir := os.Getenv(h227Child)
	if dir == "" {
		t.Skip("the child of TestH227OwnFileFsyncNoRoom")
	}
	ctx := context.Background()
	do := h227Ops[os.Getenv(h227Op)]
	var r h227Result
	write := func() {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(os.Getenv(h227Out), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The parent armed the fault: it may strike Open or the first Save
	// (the store's own fsyncs), which the result says (Op false).
	s, err := ckpt.Open(filepath.Join(dir, "s.db"), ckpt.Options{NoWAL: os.Getenv(h227NoWAL) != ""})
	if err != nil {
		write()
		return
	}
	defer s.Close()
	if _, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil); err != nil {
		write()
		return
	}
	err = do(ctx, s, dir)
	r.Op = err != nil
	r.DiskFull, r.ENOSPC, r.EDQUOT = errors.Is(err, ckpt.ErrDiskFull), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT)
	r.Failed, r.NotDurable = errors.Is(err, ckpt.ErrFailed), errors.Is(err, ckpt.ErrNotDurable)
	if err != nil {
		r.Err = err.Error()
	}
	errText := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return ""
	}
	_, err = s.Save(ctx, "t", map[string]any{"v": 2}, nil)
	r.SaveAfter = errText(err)
	r.Again = errText(do(ctx, s, dir)) // the fault strikes once
	r.CloseAfter = errText(s.Close())
	write()
}

// h227Run runs op in a child process on a new mount, the nth fsync of
// target failing with errno; hit says whether the fault struck.
func h227Run(t *testing.T, op string, noWAL bool, target Target, n int, errno syscall.Errno) (r h227Result, hit bool) {
	t.Helper()
	return h227RunFault(t, op, noWAL, Fault{Call: CallFsync, Target: target, N: n, Errno: errno})
}

// h227RunFault runs op in a child process on a new mount with fault f
// armed; hit says whether the fault struck.
func h227RunFault(t *testing.T, op string, noWAL bool, f Fault) (r h227Result, hit bool) {
	t.Helper()
	fs := Mount(t)
	fs.Arm(f)
	out := filepath.Join(t.TempDir(), "out.json")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestH227OwnFsyncChild$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), h227Child+"="+fs.Dir, h227Op+"="+op, h227Out+"="+out)
	if noWAL {
		cmd.Env = append(cmd.Env, h227NoWAL+"=1")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: the child: %v\n%s", f.name(), err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r, fs.FaultHits() > 0
}

// h227EachOwnFsync strikes each fsync of a file other than the store's
// in op in turn (h227OwnFsync, up to the 20th), and fails the test if
// none was struck; what names those files in the failure.
func h227EachOwnFsync(t *testing.T, op string, noWAL bool, errno syscall.Errno, what string) {
	t.Helper()
	struck := 0
	for n := 1; n <= 20; n++ {
		if !h227OwnFsync(t, op, noWAL, n, errno) {
			break
		}
		struck++
	}
	if struck == 0 {
		t.Fatal("no fsync of " + what + " was struck")
	}
	t.Logf("%d fsyncs struck in turn", struck)
}

// h227OwnFsync fails the nth fsync of a file other than the store's in
// op and checks what it returns; false when there was no nth fsync.
func h227OwnFsync(t *testing.T, op string, noWAL bool, n int, errno syscall.Errno) bool {
	t.Helper()
	r, hit := h227Run(t, op, noWAL, TargetOther, n, errno)
	if !r.Op {
		return false // op made fewer fsyncs (the fault struck a later call, or none)
	}
	if !hit {
		t.Fatalf("%s with no fault: %s", op, r.Err)
	}
	if !r.DiskFull || (errno == syscall.ENOSPC) != r.ENOSPC || (errno == syscall.EDQUOT) != r.EDQUOT {
		t.Errorf("fsync %d: %s whose own file's fsync found no room: %s; want ErrDiskFull wrapping %v", n, op, r.Err, errno)
	}
	if r.Failed || r.NotDurable {
		t.Errorf("fsync %d: %s failed before anything was in place: %s; want neither ErrFailed nor ErrNotDurable", n, op, r.Err)
	}
	if r.SaveAfter != "" {
		t.Errorf("fsync %d: save after %s failed alone: %s", n, op, r.SaveAfter)
	}
	if r.Again != "" {
		t.Errorf("fsync %d: %s once the fault is gone: %s", n, op, r.Again)
	}
	if r.CloseAfter != "" {
		t.Errorf("fsync %d: close: %s", n, r.CloseAfter)
	}
	return true
}

func errnoName(e syscall.Errno) string {
	if e == syscall.EDQUOT {
		return "EDQUOT"
	}
	return "ENOSPC"
}
