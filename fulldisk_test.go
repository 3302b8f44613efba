//go:build linux

package ckpt_test

// A full disk at every step, as RLIMIT_FSIZE makes it: a child process
// opens a store, lowers its file size limit to around the store file's
// size (SIGXFSZ ignored, so a write past it fails with EFBIG, as on a
// full disk), then writes checkpoints, runs one operation (the log's
// apply, Compact, BackupFile, GC, Rekey, Import), writes again and closes,
// printing what was acknowledged and what failed. The parent reopens the
// store without a limit: the child must not have died, every acknowledged
// checkpoint reads back exactly, no failed one is there, a failed import
// left nothing and a failed backup no file, and Verify is clean.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	diskOpEnv    = "CKPT_DISK_OP"
	diskDeltaEnv = "CKPT_DISK_DELTA"
	diskNoWALEnv = "CKPT_NOWAL"
	diskDumpEnv  = "CKPT_DISK_DUMP"
	diskBase     = 300 // checkpoints of the prepared store (thread "t")
	diskMore     = 12  // written by the child before and after its op
)

var diskKeys = [2]ckpt.Key{{ID: 1, Secret: [32]byte{1}}, {ID: 2, Secret: [32]byte{2}}}

func diskText(i int) string {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	b := make([]byte, 16<<10)
	for j := range b {
		b[j] = byte('a' + r.IntN(26))
	}
	return string(b)
}

func diskState(i int) map[string]any { return map[string]any{"i": i, "text": diskText(i)} }

func diskOptions(op string, noWAL bool) ckpt.Options {
	o := ckpt.Options{NoWAL: noWAL}
	if op == "rekey" {
		o.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{diskKeys[1], diskKeys[0]}}
	}
	return o
}

func diskFileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// diskChild is the child: output lines
//
//	A <i> <id>      Save of checkpoint i acknowledged
//	F <i> <err>     Save of checkpoint i failed
//	OP ok | OP <err>
//	CLOSE ok | CLOSE <err>
func diskChild(path string) int {
	op, noWAL := os.Getenv(diskOpEnv), os.Getenv(diskNoWALEnv) != ""
	delta, _ := strconv.ParseInt(os.Getenv(diskDeltaEnv), 10, 64)
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	line := func(s string) { out.WriteString(strings.ReplaceAll(s, "\n", " ") + "\n") }
	limitSize := func() bool {
		signal.Ignore(syscall.SIGXFSZ)
		limit := uint64(diskFileSize(path) + delta)
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
			return false
		}
		return true
	}
	// reopen: the disk is full when Open replays what a crash left in the
	// log (the "crash" child before it exits without Close).
	if op == "reopen" && !limitSize() {
		return 3
	}
	s, err := ckpt.Open(path, diskOptions(op, noWAL))
	if err != nil && op == "reopen" {
		line("OP " + err.Error())
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	if op != "reopen" && op != "crash" && !limitSize() {
		return 3
	}
	save := func(from int) {
		for i := from; i < from+diskMore; i++ {
			id, err := s.Save(ctx, "t", diskState(i), ckpt.Metadata{"i": i})
			if err != nil {
				line(fmt.Sprintf("F %d %v", i, err))
			} else {
				line(fmt.Sprintf("A %d %s", i, id))
			}
		}
	}
	if op == "reopen" {
		line("OP ok")
		save(diskBase + 2*diskMore)
		if err := s.Close(); err != nil {
			line("CLOSE " + err.Error())
		}
		return 0
	}
	save(diskBase)
	if op == "crash" {
		out.Flush()
		os.Exit(0) // no Close: the log keeps what the applier has not taken
	}
	opErr, err := runDiskOp(ctx, s, op, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	if opErr != nil {
		line("OP " + opErr.Error())
	} else {
		line("OP ok")
	}
	save(diskBase + diskMore)
	if err := s.Close(); err != nil {
		line("CLOSE " + err.Error())
	} else {
		line("CLOSE ok")
	}
	return 0
}

// checkDiskBackup checks a disk round's BackupFile (here and in
// realdisk_linux_test.go): one that returned nil left a copy that opens
// alone and verifies clean, one that failed left no file.
func checkDiskBackup(t *testing.T, what, path, opRes string) {
	t.Helper()
	_, err := os.Stat(path + ".bak")
	switch {
	case opRes == "ok" && err != nil:
		t.Errorf("%s: BackupFile returned nil; no file: %v", what, err)
	case opRes != "ok" && err == nil:
		t.Errorf("%s: BackupFile failed (%s), and left a file", what, opRes)
	case opRes == "ok":
		b, err := ckpt.Open(path+".bak", ckpt.Options{ReadOnly: true})
		if err != nil {
			t.Errorf("%s: the backup: %v", what, err)
		} else {
			if rep, err := b.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
				t.Errorf("%s: Verify of the backup: %+v, %v", what, rep, err)
			}
			_ = b.Close()
		}
	}
}

// runDiskOp runs a disk child's one operation (here and in
// realdisk_linux_test.go): opErr is the operation's outcome, err a setup
// failure (the dump unreadable), which ends the child with exit 3.
func runDiskOp(ctx context.Context, s *ckpt.Store, op, path string) (opErr, err error) {
	switch op {
	case "apply":
		opErr = s.ApplyLog(ctx)
	case "compact":
		_, opErr = s.Compact(ctx, nil)
	case "backup":
		opErr = s.BackupFile(ctx, path+".bak")
	case "gc":
		_, opErr = s.GC(ctx, ckpt.Policy{KeepLast: 5})
	case "rekey":
		_, opErr = s.Rekey(ctx)
	case "copy":
		opErr = s.CopyThread(ctx, "t", "t2", ckpt.CopyOptions{})
	case "import":
		f, err := os.Open(os.Getenv(diskDumpEnv))
		if err != nil {
			return nil, err
		}
		_, opErr = s.Import(ctx, f, ckpt.ImportOptions{})
		f.Close()
	}
	return opErr, nil
}

// diskPrepare writes the store every round starts from (closed: no log),
// and the dump the import rounds read (thread "imp").
func diskPrepare(t *testing.T, dir string, sealed bool) (path, dump string) {
	t.Helper()
	ctx := context.Background()
	path = filepath.Join(dir, "base.db")
	o := ckpt.Options{}
	if sealed {
		o.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{diskKeys[0]}}
	}
	s, err := ckpt.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range diskBase {
		if _, err := s.Save(ctx, "t", diskState(i), ckpt.Metadata{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := ckpt.Open(filepath.Join(dir, "src.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if _, err := src.Save(ctx, "imp", diskState(1000+i), ckpt.Metadata{"i": 1000 + i}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := src.Export(ctx, &buf, ckpt.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = src.Close()
	dump = filepath.Join(dir, "dump.jsonl")
	if err := os.WriteFile(dump, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dump
}

// diskRound runs one child and checks what it left; it returns the op's
// outcome and how many saves failed, for the log.
func diskRound(t *testing.T, base, dump, op string, noWAL bool, delta int64) (string, int) {
	t.Helper()
	ctx := context.Background()
	what := fmt.Sprintf("op %s, nowal %v, limit %+d", op, noWAL, delta)
	path := filepath.Join(t.TempDir(), "s.db")
	copyFile(t, base, path)
	steps := []string{op}
	if op == "reopen" {
		steps = []string{"crash", op}
	}
	var stdout, stderr bytes.Buffer
	for _, step := range steps {
		cmd := exec.Command(testchild.Binary(), "-test.run=^$")
		env := []string{"CKPT_FILE_CHILD=fulldisk", "CKPT_CRASH_FILE=" + path, diskOpEnv + "=" + step,
			diskDeltaEnv + "=" + strconv.FormatInt(delta, 10), diskDumpEnv + "=" + dump}
		if noWAL {
			env = append(env, diskNoWALEnv+"=1")
		}
		cmd.Env = childEnv(env...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Errorf("%s: the child (%s) died: %v\n%s", what, step, err, stderr.String())
			return "", 0
		}
	}
	acked, failed := map[int]string{}, map[int]bool{}
	opRes := ""
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		f := strings.SplitN(l, " ", 3)
		switch f[0] {
		case "A":
			i, _ := strconv.Atoi(f[1])
			acked[i] = f[2]
		case "F":
			i, _ := strconv.Atoi(f[1])
			failed[i] = true
		case "OP":
			opRes = strings.TrimPrefix(l, "OP ")
		}
	}
	s, err := ckpt.Open(path, diskOptions(op, noWAL))
	if err != nil {
		t.Errorf("%s: reopen without the limit: %v\n%s", what, err, stdout.String())
		return opRes, len(failed)
	}
	defer s.Close()
	check := func(i int, id string) {
		snap, err := s.Load(ctx, "t", id)
		if err != nil {
			t.Errorf("%s: acknowledged checkpoint %d (%s): %v", what, i, id, err)
			return
		}
		var v int
		var text string
		if err := snap.Decode("i", &v); err != nil || v != i {
			t.Errorf("%s: checkpoint %d reads i=%d (%v)", what, i, v, err)
		}
		if err := snap.Decode("text", &text); err != nil || text != diskText(i) {
			t.Errorf("%s: checkpoint %d reads a wrong text (%v)", what, i, err)
		}
	}
	for i, id := range acked {
		if op == "gc" && i < diskBase+diskMore {
			continue // GC may have deleted it
		}
		check(i, id)
	}
	// Every checkpoint of the thread (List: every branch), read whole.
	n := 0
	for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Errorf("%s: list: %v", what, err)
			break
		}
		n++
		var v int
		if err := tp.Decode("i", &v); err != nil {
			t.Errorf("%s: list: %v", what, err)
			continue
		}
		if failed[v] {
			t.Errorf("%s: the failed Save of checkpoint %d is there (%s)", what, v, tp.Config.CheckpointID)
		}
		if v < diskBase || acked[v] != "" {
			if text := ""; tp.Decode("text", &text) != nil || text != diskText(v) {
				t.Errorf("%s: checkpoint %d in the list reads a wrong text", what, v)
			}
		} else {
			t.Errorf("%s: checkpoint %d in the list was never acknowledged", what, v)
		}
	}
	if op == "gc" && opRes == "ok" && n > 5+diskMore {
		t.Errorf("%s: GC returned nil and kept %d checkpoints", what, n)
	}
	if op == "import" {
		imp := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "imp"}) {
			if err != nil {
				t.Errorf("%s: list of the imported thread: %v", what, err)
				break
			}
			imp++
		}
		switch {
		case opRes == "ok" && imp != 40:
			t.Errorf("%s: Import returned nil; the thread has %d checkpoints", what, imp)
		case opRes != "ok" && imp != 0:
			t.Errorf("%s: Import failed (%s); %d of its checkpoints are there", what, opRes, imp)
		}
	}
	if op == "backup" {
		checkDiskBackup(t, what, path, opRes)
	}
	if op == "compact" {
		if _, err := os.Stat(path + ".compact"); err == nil {
			t.Errorf("%s: Compact (%s) left its new file behind after the reopen", what, opRes)
		}
	}
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %+v, %v", what, rep, err)
	}
	return opRes, len(failed)
}

func TestFullDiskAtEveryStep(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a child process per round")
	}
	dir := t.TempDir()
	plain, dump := diskPrepare(t, dir, false)
	sealedDir := t.TempDir()
	sealed, _ := diskPrepare(t, sealedDir, true)
	// 8 limits (-2 MiB, -256 KiB, -4 KiB, 0, +4 KiB, +64 KiB, +512 KiB,
	// +4 MiB) held on 2026-12-03 (96 rounds, and 16 of Open's replay);
	// four of them here (one under -race).
	// CKPT_DISK_DELTAS and CKPT_DISK_OPS (comma-separated) choose others.
	deltas := []int64{-2 << 20, -4 << 10, 64 << 10, 4 << 20}
	// The parent's checks cost 4x under the race detector (the children
	// run without it): there, one limit per operation, alternating.
	alternate := raceEnabled && os.Getenv("CKPT_DISK_DELTAS") == ""
	if s := os.Getenv("CKPT_DISK_DELTAS"); s != "" {
		deltas = nil
		for _, f := range strings.Split(s, ",") {
			d, _ := strconv.ParseInt(f, 10, 64)
			deltas = append(deltas, d)
		}
	}
	ops := []string{"apply", "compact", "backup", "gc", "rekey", "import", "reopen"}
	if s := os.Getenv("CKPT_DISK_OPS"); s != "" {
		ops = strings.Split(s, ",")
	}
	for k, op := range ops {
		if alternate {
			deltas = []int64{[2]int64{-4 << 10, 64 << 10}[k%2]}
		}
		base := plain
		if op == "rekey" {
			base = sealed
		}
		for _, noWAL := range []bool{false, true} {
			for _, d := range deltas {
				res, nf := diskRound(t, base, dump, op, noWAL, d)
				t.Logf("op %s nowal %v limit %+d: %d saves failed, op: %.120s", op, noWAL, d, nf, res)
			}
		}
	}
}
