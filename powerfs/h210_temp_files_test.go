//go:build linux

package powerfs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestPowerFaultCLITempFiles: the commands that write a file of their
// own beside the store through a temporary one, ckpt backup and ckpt
// export -o, with one write (ENOSPC, or EIO cut short) or fsync (EIO) of
// that file or of the directory failing. Exit code and files agree: exit
// 0 with the file there (a dump ending in its end line); else a line
// that says what failed and no file, or (failed after the copy or the
// dump was in place: the directory's fsync) a line saying it is the copy
// or the whole dump.
// Never a temporary file left. One point drawn per kind;
// CKPT_POWERFS_FAULTS=all fails every call in turn.
func TestPowerFaultCLITempFiles(t *testing.T) {
	t.Parallel()
	if os.Getenv(childDir) != "" {
		t.Skip("the parent's test")
	}
	bin := buildCLI(t)
	var base cliCmd
	for _, cc := range cliCmds {
		if cc.sc.name == "cli-compact" { // its setup: a closed store, s.db
			base = cc
		}
	}
	type cmd struct {
		name, out, temp string
		args            []string
	}
	cmds := []cmd{
		{"backup", "b.db", "b.db.ckpt-backup-", []string{"backup", "s.db", "b.db"}},
		{"export", "out.dump", ".out.dump.ckpt-export-", []string{"export", "s.db", "-o", "out.dump"}},
	}
	kinds := []Fault{
		{Call: CallWrite, Target: TargetOther, Errno: syscall.ENOSPC},
		{Call: CallWrite, Target: TargetOther, Errno: syscall.EIO, Short: true},
		{Call: CallFsync, Target: TargetOther, Errno: syscall.EIO},
		{Call: CallFsync, Target: TargetDir, Errno: syscall.EIO},
	}
	for ci, cm := range cmds {
		c := base
		c.args = func(string) []string { return cm.args }
		t.Run(cm.name, func(t *testing.T) {
			var counts map[[2]int]int
			t.Run("none", func(t *testing.T) {
				l, _, n := cliRun(t, bin, c, Fault{})
				counts = n
				checkTempAgrees(t, l, cm.out, cm.temp)
			})
			rng := rand.New(rand.NewPCG(210, uint64(ci)))
			runs, failed := 0, 0
			for _, k := range kinds {
				for _, n := range sweepPoints(counts[[2]int{int(k.Call), int(k.Target)}], rng) {
					f := k
					f.N = n
					t.Run(f.name(), func(t *testing.T) {
						l, marks, _ := cliRun(t, bin, c, f)
						runs++
						if l.cli.code != 0 {
							failed++
						}
						checkTempAgrees(t, l, cm.out, cm.temp)
						l.checkMarks(210^uint64(n), 1, marks)
					})
				}
			}
			t.Logf("%s: calls %v; %d fault runs, %d failed the command", cm.name, counts, runs, failed)
		})
	}
}

func checkTempAgrees(t *testing.T, l *life, out, temp string) {
	t.Helper()
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		t.Fatal(err)
	}
	there := false
	for _, e := range entries {
		there = there || e.Name() == out
		if strings.HasPrefix(e.Name(), temp) {
			t.Errorf("exit %d left %s behind", l.cli.code, e.Name())
		}
	}
	msg := l.cli.stderr
	switch {
	case l.cli.code == 0 && !there:
		t.Errorf("exit 0 and no %s", out)
	case l.cli.code == 0 && strings.HasSuffix(out, ".dump"):
		b, err := os.ReadFile(l.path(out))
		if err != nil {
			t.Fatal(err)
		}
		if lines := bytes.Split(bytes.TrimSpace(b), []byte("\n")); !bytes.Contains(lines[len(lines)-1], []byte(`"end"`)) {
			t.Errorf("exit 0 and %s has no end line: %q", out, lines[len(lines)-1])
		}
	case l.cli.code != 0 && msg == "":
		t.Errorf("exit %d and no message", l.cli.code)
	case l.cli.code != 0 && there && !strings.Contains(msg, out+" is the copy") && !strings.Contains(msg, out+" is the whole dump"):
		t.Errorf("exit %d and %s is there: %s", l.cli.code, out, msg)
	}
}
