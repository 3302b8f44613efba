//go:build linux

package powerfs

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// renamedToDB tells whether ops rename s.db.compact over s.db, and the
// number, among the directory fsyncs after the last mark before it, of
// the first one after it (what Fault.N names when the counter was armed
// at that mark), and how many the window holds up to the next mark.
func renamedToDB(ops []Op) (renamed bool, n, total int) {
	return dirFsyncAfter(ops, func(o Op) bool { return o.Kind == OpRename && o.Name == "s.db.compact" && o.Name2 == "s.db" })
}

// dirFsyncAfter is renamedToDB for the first op that is placed.
func dirFsyncAfter(ops []Op, placed func(Op) bool) (found bool, n, total int) {
	at := slices.IndexFunc(ops, placed)
	if at < 0 {
		return false, 0, 0
	}
	from := at
	for from > 0 && ops[from-1].Kind != OpMark {
		from--
	}
	for i := from; i < len(ops) && (i == from || ops[i].Kind != OpMark); i++ {
		if ops[i].Kind == OpFsyncDir || ops[i].Kind == OpFsyncDirFail {
			total++
			if i > at && n == 0 {
				n = total
			}
		}
	}
	return true, n, total
}

// TestPowerFaultCLICompactDirFsync: ckpt compact renames s.db.compact
// over s.db and the directory's fsync after it fails. The store fails
// (the rename may not be durable) and compact exits 1, rightly; its line
// said "file replaced, but: ...; s.db left as it was, s.db.compact
// removed": the second half is not so, s.db is the compacted file. The
// line must say what is there.
func TestPowerFaultCLICompactDirFsync(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	var c cliCmd
	for _, cc := range cliCmds {
		if cc.sc.name == "cli-compact" {
			c = cc
		}
	}
	n := 0
	t.Run("none", func(t *testing.T) {
		l, _, calls := cliRun(t, bin, c, Fault{})
		renamed, at, total := renamedToDB(l.rec.Ops())
		if !renamed || at == 0 {
			t.Fatalf("no directory fsync after s.db.compact's rename over s.db (renamed %v)", renamed)
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
		if renamed, at, _ := renamedToDB(l.rec.Ops()); !renamed || at != n {
			t.Fatalf("the fault did not strike the directory's fsync after the rename (renamed %v, that fsync is number %d)", renamed, at)
		}
		if l.cli.code == 0 {
			t.Fatalf("ckpt compact exited 0 after the directory's fsync failed: %s", l.cli.stderr)
		}
		msg := l.cli.stderr
		if strings.Contains(msg, "s.db left as it was") || strings.Contains(msg, ".compact removed") {
			t.Errorf("the line says s.db was left as it was, and s.db is the compacted file: %s", msg)
		}
		if !strings.Contains(msg, "s.db is the compacted file") {
			t.Errorf("the line does not say s.db is the compacted file: %s", msg)
		}
		l.checkMarks(209, 1, marks)
	})
	if sub != nil && sub.Skipped() {
		t.Errorf("%s: the fault never struck", f.name())
	}
}
