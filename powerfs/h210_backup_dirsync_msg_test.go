//go:build linux

package powerfs

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// linkedToBackup: the op that puts ckpt backup's copy at b.db (a link of
// its temporary file, or a rename of it).
func linkedToBackup(o Op) bool {
	return (o.Kind == OpLink && o.Name == "b.db") || (o.Kind == OpRename && o.Name2 == "b.db")
}

// TestPowerFaultCLIBackupDirFsync: ckpt backup s.db b.db puts its
// verified copy at b.db, and the directory's fsync after it fails.
// BackupFile returns the error (the new name may not survive a power
// cut) and backup exits 1, rightly; the line must not then say "no b.db
// written" (what a backup that failed before says): b.db is there, the
// whole copy. No temporary file is left either.
func TestPowerFaultCLIBackupDirFsync(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	var c cliCmd
	for _, cc := range cliCmds {
		if cc.sc.name == "cli-compact" { // its setup: a closed store, s.db
			c = cc
		}
	}
	c.args = func(string) []string { return []string{"backup", "s.db", "b.db"} }
	n := 0
	t.Run("none", func(t *testing.T) {
		l, _, calls := cliRun(t, bin, c, Fault{})
		found, at, total := dirFsyncAfter(l.rec.Ops(), linkedToBackup)
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
	var sub *testing.T
	t.Run(f.name(), func(t *testing.T) {
		sub = t
		l, marks, _ := cliRun(t, bin, c, f)
		if found, at, _ := dirFsyncAfter(l.rec.Ops(), linkedToBackup); !found || at != n {
			t.Fatalf("the fault did not strike the directory's fsync after the copy was put at b.db (put %v, that fsync is number %d)", found, at)
		}
		entries, err := os.ReadDir(l.dir)
		if err != nil {
			t.Fatal(err)
		}
		there := false
		for _, e := range entries {
			there = there || e.Name() == "b.db"
			if strings.HasPrefix(e.Name(), "b.db.ckpt-backup-") {
				t.Errorf("exit %d left %s behind", l.cli.code, e.Name())
			}
		}
		msg := l.cli.stderr
		switch {
		case l.cli.code == 0:
			t.Errorf("ckpt backup exited 0 after the directory's fsync failed: %s", msg)
		case there && (strings.Contains(msg, "no b.db written") || strings.Contains(msg, "b.db left as it was")):
			t.Errorf("b.db is the new copy, and the line says otherwise: %s", msg)
		case there && !strings.Contains(msg, "b.db is the copy"):
			t.Errorf("b.db is the new copy, and the line does not say so: %s", msg)
		}
		l.checkMarks(209, 1, marks)
	})
	if sub != nil && sub.Skipped() {
		t.Errorf("%s: the fault never struck", f.name())
	}
}
