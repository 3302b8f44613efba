//go:build linux

package powerfs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// cliSetups are setups of single tests (not of TestPowerFaultCLI's hunt),
// found by TestPowerFaultChild as cliCmds' are.
var cliSetups = []cliCmd{
	// A closed store, s.db, and an earlier backup of it at b.db.
	{sc: faultScenario{name: "cli-backup-over", steps: func(l *life) {
		cliSetup(l, false)
		l.tryDo("BackupFile", func(ctx context.Context, s *ckpt.Store) error {
			return s.BackupFile(ctx, filepath.Join(l.dir, "b.db"))
		})
		l.tryClose()
	}}, args: func(string) []string { return []string{"backup", "s.db", "b.db"} }},
}

func cliCmdNamed(t *testing.T, name string) cliCmd {
	t.Helper()
	for _, c := range slices.Concat(cliCmds, cliSetups) {
		if c.sc.name == name {
			return c
		}
	}
	t.Fatalf("no command %q", name)
	return cliCmd{}
}

// TestPowerFaultCLICompactFsyncMsg: ckpt compact with each fsync of
// s.db.compact failing (before the rename: s.db is the old file), and
// each fsync of the file at s.db failing (after the rename and a good
// directory fsync: the commit that clears the new file's mark). The line
// said "sync s.db" for the copy's fsync during bbolt's growth of the new
// file (s.db did not fail), named no file for the copy's last fsync, and "the rename may not survive a power cut"
// for the clear's, whose rename is durable.
func TestPowerFaultCLICompactFsyncMsg(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	c := cliCmdNamed(t, "cli-compact")
	var counts map[[2]int]int
	t.Run("none", func(t *testing.T) { _, _, counts = cliRun(t, bin, c, Fault{}) })
	if counts == nil {
		return
	}
	for n := 1; n <= counts[[2]int{int(CallFsync), int(TargetOther)}]; n++ {
		f := Fault{Call: CallFsync, Target: TargetOther, N: n, Errno: syscall.EIO}
		t.Run(f.name(), func(t *testing.T) {
			l, marks, _ := cliRun(t, bin, c, f)
			msg := l.cli.stderr
			if l.cli.code == 0 {
				t.Fatalf("ckpt compact exited 0 after an fsync of s.db.compact failed: %s", msg)
			}
			if strings.Contains(msg, "s.db:") {
				t.Errorf("s.db.compact's fsync failed, and the line names s.db: %s", msg)
			}
			if !strings.Contains(msg, "s.db.compact:") {
				t.Errorf("s.db.compact's fsync failed, and the line does not name it: %s", msg)
			}
			if !strings.Contains(msg, "s.db left as it was, s.db.compact removed") {
				t.Errorf("the line does not say s.db was left as it was: %s", msg)
			}
			l.checkMarks(217, 1, marks)
		})
	}
	cleared := 0
	for n := 1; n <= counts[[2]int{int(CallFsync), int(TargetDB)}]; n++ {
		f := Fault{Call: CallFsync, Target: TargetDB, N: n, Errno: syscall.EIO}
		t.Run(f.name(), func(t *testing.T) {
			l, marks, _ := cliRun(t, bin, c, f)
			msg := l.cli.stderr
			if l.cli.code == 0 {
				t.Fatalf("ckpt compact exited 0 after an fsync of s.db failed: %s", msg)
			}
			l.checkMarks(217, 1, marks)
			if !strings.Contains(msg, "clear the new file's mark") {
				return // not the clear's commit
			}
			cleared++
			if strings.Contains(msg, "may not survive a power cut") || strings.Contains(msg, "left as it was") {
				t.Errorf("the directory's fsync after the rename succeeded, and the line says the rename is in doubt or s.db was left: %s", msg)
			}
			if !strings.Contains(msg, "s.db is the compacted file, under a durable name") {
				t.Errorf("the line does not say s.db is the compacted file, its name durable: %s", msg)
			}
		})
	}
	if cleared == 0 {
		t.Errorf("no fsync of s.db failed the commit that clears the new file's mark (fsyncs of s.db: %d)", counts[[2]int{int(CallFsync), int(TargetDB)}])
	}
}

// TestPowerFaultCLIBackupDirFsyncOverEarlier: ckpt backup s.db b.db over
// an earlier backup at b.db, and the directory's fsync after the copy is
// renamed over it fails: the line says b.db is the new copy and that a
// power cut may bring back the earlier b.db (TestPowerFaultCLIBackupDirFsync
// covers a b.db that was not there, which would then be gone).
func TestPowerFaultCLIBackupDirFsyncOverEarlier(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	c := cliCmdNamed(t, "cli-backup-over")
	n := 0
	t.Run("none", func(t *testing.T) {
		l, _, calls := cliRun(t, bin, c, Fault{})
		found, at, total := dirFsyncAfterLast(l.rec.Ops(), linkedToBackup)
		if !found || at == 0 {
			t.Fatalf("no directory fsync after the copy was put at b.db (put there %v)", found)
		}
		if want := calls[[2]int{int(CallFsync), int(TargetDir)}]; total != want {
			t.Fatalf("the record has %d directory fsyncs in the command's window, the fault counter %d", total, want)
		}
		n = at
	})
	if n == 0 {
		return
	}
	f := Fault{Call: CallFsync, Target: TargetDir, N: n, Errno: syscall.EIO}
	t.Run(f.name(), func(t *testing.T) {
		l, marks, _ := cliRun(t, bin, c, f)
		if found, at, _ := dirFsyncAfterLast(l.rec.Ops(), linkedToBackup); !found || at != n {
			t.Fatalf("the fault did not strike the directory's fsync after the copy was put at b.db (put %v, that fsync is number %d)", found, at)
		}
		msg := l.cli.stderr
		if l.cli.code == 0 {
			t.Fatalf("ckpt backup exited 0 after the directory's fsync failed: %s", msg)
		}
		if _, err := os.Stat(filepath.Join(l.dir, "b.db")); err != nil {
			t.Fatalf("b.db: %v", err)
		}
		want := "b.db is the copy, whole and verified (a power cut may undo that: the earlier b.db would be there again)"
		if !strings.Contains(msg, want) {
			t.Errorf("the line does not say %q: %s", want, msg)
		}
		l.checkMarks(217, 1, marks)
	})
}

// dirFsyncAfterLast is dirFsyncAfter for the last op that is placed:
// the command's, not its setup's (the earlier backup's link at b.db).
func dirFsyncAfterLast(ops []Op, placed func(Op) bool) (bool, int, int) {
	last := -1
	for i, o := range ops {
		if placed(o) {
			last = i
		}
	}
	if last < 0 {
		return false, 0, 0
	}
	seen := 0 // dirFsyncAfter looks for the first placed op from the start
	return dirFsyncAfter(ops, func(o Op) bool {
		seen++
		return seen-1 == last
	})
}
