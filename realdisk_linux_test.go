//go:build linux

package ckpt_test

// A REAL full file system (fulldisk_test.go fakes one with RLIMIT_FSIZE,
// which fails only a write past a size; a full file system also fails a
// write into a hole anywhere in a file, the creation of a file, and may
// fail at fdatasync). The test mounts a small tmpfs and a small ext4 image
// on a loop device (root only: it skips, saying why, where mount is not
// permitted), copies a store there, and a child process fills the file
// system up to a few bytes to a few MiB of free space with a filler file,
// then writes checkpoints with pending writes (Sync, NoSync or Async),
// runs one operation, writes again and closes, printing what was
// acknowledged and what failed. The parent deletes the filler, reopens
// the store: the child must not have died, every acknowledged checkpoint
// and pending write reads back exactly, nothing that failed is there, an
// operation that failed left nothing of itself, and Verify is clean.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

const (
	rdOpEnv   = "CKPT_RD_OP"
	rdFreeEnv = "CKPT_RD_FREE"
	rdDurEnv  = "CKPT_RD_DUR"
	rdFillEnv = "CKPT_RD_FILL"
	rdMore    = 10 // checkpoints the child writes before and after its op
	rdBase    = 60 // checkpoints of the prepared store (thread "t")
)

// rdText is diskText, remembered (the parent checks each text several
// times, and under -race building one costs milliseconds).
var rdTexts sync.Map

func rdText(i int) string {
	if v, ok := rdTexts.Load(i); ok {
		return v.(string)
	}
	v, _ := rdTexts.LoadOrStore(i, diskText(i))
	return v.(string)
}

func rdState(i int) map[string]any { return map[string]any{"i": i, "text": rdText(i)} }

func rdWrite(i int) []ckpt.Write {
	return []ckpt.Write{{Channel: "w", Value: fmt.Sprintf("write-%d-%s", i, rdText(i)[:512])}}
}

// rdChild is the child: output lines
//
//	A <i> <id>      Save and PutWrites of checkpoint i acknowledged
//	Q <i> <id>      Async: queued (its outcome is the next FLUSH's)
//	F <i> save|writes <err>  Save or PutWrites of checkpoint i failed
//	FLUSH ok | FLUSH <err>
//	OP ok | OP <err>
//	CLOSE ok | CLOSE <err>
func rdChild(path string) int {
	op, dur := os.Getenv(rdOpEnv), os.Getenv(rdDurEnv)
	free, _ := strconv.ParseInt(os.Getenv(rdFreeEnv), 10, 64)
	ctx := context.Background()
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	line := func(s string) { out.WriteString(strings.ReplaceAll(s, "\n", " ") + "\n"); out.Flush() }
	fill := func() bool {
		if err := fillFS(os.Getenv(rdFillEnv), free); err != nil {
			fmt.Fprintln(os.Stderr, "fill:", err)
			return false
		}
		return true
	}
	o := diskOptions(op, os.Getenv(diskNoWALEnv) != "")
	switch dur {
	case "nosync":
		o.Durability = ckpt.NoSync
	case "async":
		o.Durability = ckpt.Async
	}
	// reopen and upgrade: the disk is full when Open replays what a
	// crash left in the log, or upgrades the file's format.
	early := op == "reopen" || op == "upgrade"
	if early && !fill() {
		return 3
	}
	s, err := ckpt.Open(path, o)
	if early {
		if err != nil {
			line("OP " + err.Error())
			return 0
		}
		line("OP ok")
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	if !early && op != "crash" && !fill() {
		return 3
	}
	save := func(from int) {
		for i := from; i < from+rdMore; i++ {
			id, err := s.Save(ctx, "t", rdState(i), ckpt.Metadata{"i": i})
			what := "save"
			if err == nil {
				what = "writes"
				err = s.PutWrites(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id}, rdWrite(i), "task", "")
			}
			switch {
			case err != nil:
				line(fmt.Sprintf("F %d %s %v", i, what, err))
			case dur == "async":
				line(fmt.Sprintf("Q %d %s", i, id))
			default:
				line(fmt.Sprintf("A %d %s", i, id))
			}
		}
		if dur == "async" {
			if err := s.Flush(ctx); err != nil {
				line("FLUSH " + err.Error())
			} else {
				line("FLUSH ok")
			}
		}
	}
	if early {
		// reopen: the crash child wrote rdBase..; these come after.
		save(rdBase + rdMore)
		if err := s.Close(); err != nil {
			line("CLOSE " + err.Error())
		} else {
			line("CLOSE ok")
		}
		return 0
	}
	save(rdBase)
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
	save(rdBase + rdMore)
	if err := s.Close(); err != nil {
		line("CLOSE " + err.Error())
	} else {
		line("CLOSE ok")
	}
	return 0
}

type rdCase struct {
	fs, op, dur string
	noWAL       bool
	free        int64
}

func (c rdCase) String() string {
	return fmt.Sprintf("%s op %s %s nowal %v free %d", c.fs, c.op, c.dur, c.noWAL, c.free)
}

// rdRound runs one case's child (two for reopen: a crash first) on a copy
// of base in mnt and checks what it left.
func rdRound(t *testing.T, mnt string, b rdBases, c rdCase) {
	t.Helper()
	ctx := context.Background()
	what := c.String()
	dir, err := os.MkdirTemp(mnt, "r")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.db")
	filler := filepath.Join(mnt, "filler")
	base := b.plain
	switch c.op {
	case "rekey":
		base = b.sealed
	case "upgrade":
		base = b.old
	}
	copyFile(t, base, path)
	steps := []string{c.op}
	if c.op == "reopen" {
		steps = []string{"crash", c.op}
	}
	var stdout, stderr bytes.Buffer
	for _, step := range steps {
		cmd := exec.Command(testchild.Binary(), "-test.run=^$")
		env := []string{"CKPT_FILE_CHILD=realdisk", "CKPT_CRASH_FILE=" + path, rdOpEnv + "=" + step,
			rdFreeEnv + "=" + strconv.FormatInt(c.free, 10), rdDurEnv + "=" + c.dur,
			rdFillEnv + "=" + filler, diskDumpEnv + "=" + b.dump}
		if c.noWAL {
			env = append(env, diskNoWALEnv+"=1")
		}
		cmd.Env = childEnv(env...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		_ = removeFiller(filler)
		if err != nil {
			t.Errorf("%s: the child (%s) died: %v\n%s", what, step, err, stderr.String())
			return
		}
	}
	acked, failed, failedSave := map[int]string{}, map[int]bool{}, map[int]bool{}
	var queued []int
	queuedID := map[int]string{}
	opRes, closeRes := "", ""
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		f := strings.SplitN(l, " ", 3)
		switch f[0] {
		case "A":
			i, _ := strconv.Atoi(f[1])
			acked[i] = f[2]
		case "Q":
			i, _ := strconv.Atoi(f[1])
			queued = append(queued, i)
			queuedID[i] = f[2]
		case "F":
			i, _ := strconv.Atoi(f[1])
			failed[i] = true
			failedSave[i] = strings.HasPrefix(f[2], "save ")
		case "FLUSH":
			// A Flush that returned nil vouches for every write queued
			// before it; one that failed for none (any may have failed).
			if l == "FLUSH ok" {
				for _, i := range queued {
					acked[i] = queuedID[i]
				}
			}
			queued = nil
		case "OP":
			opRes = strings.TrimPrefix(l, "OP ")
		case "CLOSE":
			closeRes = strings.TrimPrefix(l, "CLOSE ")
		}
	}
	t.Logf("%s: %d acknowledged, %d failed, op: %.100s, close: %.100s", what, len(acked), len(failed), opRes, closeRes)
	s, err := ckpt.Open(path, diskOptions(c.op, c.noWAL))
	if err != nil {
		t.Errorf("%s: reopen with space: %v\n%s", what, err, stdout.String())
		return
	}
	defer s.Close()
	rdCheckAcked(t, s, what, acked, func(i int) bool {
		return c.op == "gc" && i < rdBase+rdMore // GC may have deleted it
	})
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
		switch {
		case failedSave[v]:
			t.Errorf("%s: the failed Save of checkpoint %d is there (%s)", what, v, tp.Config.CheckpointID)
		case failed[v] && len(tp.PendingWrites) != 0:
			t.Errorf("%s: the failed PutWrites of checkpoint %d is there (%s)", what, v, tp.Config.CheckpointID)
		}
		if text := ""; tp.Decode("text", &text) != nil || text != rdText(v) {
			t.Errorf("%s: checkpoint %d in the list reads a wrong text", what, v)
		}
		if v >= rdBase && acked[v] == "" && queuedID[v] == "" && !failed[v] {
			t.Errorf("%s: checkpoint %d in the list was never written", what, v)
		}
	}
	if c.op == "gc" && opRes == "ok" && n > 5+2*rdMore {
		t.Errorf("%s: GC returned nil and kept %d checkpoints", what, n)
	}
	allOrNothing := func(thread string, want int) {
		got := 0
		for _, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread}) {
			if err != nil {
				t.Errorf("%s: list of thread %s: %v", what, thread, err)
				break
			}
			got++
		}
		switch {
		case opRes == "ok" && got != want && want >= 0:
			t.Errorf("%s: %s returned nil; thread %s has %d checkpoints, want %d", what, c.op, thread, got, want)
		case opRes != "ok" && got != 0:
			t.Errorf("%s: %s failed (%s); %d checkpoints of thread %s are there", what, c.op, opRes, got, thread)
		}
	}
	switch c.op {
	case "import":
		allOrNothing("imp", 40)
	case "copy":
		allOrNothing("t2", -1)
	case "backup":
		checkDiskBackup(t, what, path, opRes)
	case "upgrade":
		if got := rdExport(t, s, b.oldThreads); !bytes.Equal(got, b.oldExport) {
			t.Errorf("%s: the upgraded file's threads export differently from an upgrade with space (%d bytes, want %d)", what, len(got), len(b.oldExport))
		}
	case "compact":
		if _, err := os.Stat(path + ".compact"); err == nil {
			t.Errorf("%s: Compact (%s) left its new file behind after the reopen", what, opRes)
		}
	}
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %+v, %v", what, rep, err)
	}
}

// rdBases are the files a round starts from: the plain store, the sealed
// one (rekey), the format-2 file of testdata (upgrade: Open upgrades it to
// this build's format on the full disk) with its threads' export after an
// upgrade with space, and the dump (import).
type rdBases struct {
	plain, sealed, old, dump string
	oldThreads               []string
	oldExport                []byte
}

// rdCheckAcked checks that every acknowledged checkpoint i of thread "t"
// (acked: its id), but those skip names, reads back exactly as saved:
// rdState's i and text, and its one pending write (rdWrite).
func rdCheckAcked(t *testing.T, s *ckpt.Store, what string, acked map[int]string, skip func(i int) bool) {
	t.Helper()
	for i, id := range acked {
		if skip != nil && skip(i) {
			continue
		}
		tp, err := s.GetTuple(context.Background(), ckpt.Config{ThreadID: "t", CheckpointID: id})
		if err != nil {
			t.Errorf("%s: acknowledged checkpoint %d (%s): %v", what, i, id, err)
			continue
		}
		var v int
		var text, w string
		if err := tp.Decode("i", &v); err != nil || v != i {
			t.Errorf("%s: checkpoint %d reads i=%d (%v)", what, i, v, err)
		}
		if err := tp.Decode("text", &text); err != nil || text != rdText(i) {
			t.Errorf("%s: checkpoint %d reads a wrong text (%v)", what, i, err)
		}
		if len(tp.PendingWrites) != 1 {
			t.Errorf("%s: checkpoint %d has %d pending writes, acknowledged 1", what, i, len(tp.PendingWrites))
		} else if err := tp.PendingWrites[0].Value.Decode(&w); err != nil || w != rdWrite(i)[0].Value {
			t.Errorf("%s: checkpoint %d's pending write reads wrong (%v)", what, i, err)
		}
	}
}

func rdPrepare(t *testing.T) rdBases {
	t.Helper()
	var b rdBases
	b.plain, b.dump = rdPrepareStore(t, false)
	b.sealed, _ = rdPrepareStore(t, true)
	b.old = filepath.Join(t.TempDir(), "old.ckpt")
	copyFile(t, filepath.Join("testdata", "format2", "store.ckpt"), b.old)
	up := filepath.Join(t.TempDir(), "up.ckpt")
	copyFile(t, b.old, up)
	s, err := ckpt.Open(up, ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for ti, err := range s.Threads(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		b.oldThreads = append(b.oldThreads, ti.ThreadID)
	}
	b.oldExport = rdExport(t, s, b.oldThreads)
	return b
}

// rdPrepareStore writes a closed store of rdBase checkpoints (thread "t",
// sealed under diskKeys[0] if asked) and a dump of 40 more (thread "imp").
func rdPrepareStore(t *testing.T, sealed bool) (path, dump string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path = filepath.Join(dir, "base.db")
	o := ckpt.Options{NoWAL: true} // one commit a checkpoint, no log to apply at Close
	if sealed {
		o.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{diskKeys[0]}}
	}
	s, err := ckpt.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rdBase {
		if _, err := s.Save(ctx, "t", rdState(i), ckpt.Metadata{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	for i := range 40 {
		if _, err := s.Save(ctx, "imp", rdState(1000+i), ckpt.Metadata{"i": 1000 + i}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Export(ctx, &buf, ckpt.ExportOptions{Threads: []string{"imp"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteThread(ctx, "imp"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dump = filepath.Join(dir, "dump.jsonl")
	if err := os.WriteFile(dump, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dump
}

func rdExport(t *testing.T, s *ckpt.Store, threads []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := s.Export(context.Background(), &buf, ckpt.ExportOptions{Threads: threads}); err != nil {
		t.Errorf("export: %v", err)
	}
	return buf.Bytes()
}

// rdCases is every case, or, unless CKPT_HUNT_ROUNDS asks for more,
// huntRounds(14, 5) of them spread over the list (each round is a child
// process and a reopen, about half a second): CKPT_HUNT_ROUNDS=0 runs all.
func rdCases(fss []string) []rdCase {
	ops := []string{"apply", "compact", "backup", "gc", "rekey", "copy", "import", "reopen", "upgrade"}
	if s := os.Getenv("CKPT_RD_OPS"); s != "" {
		ops = strings.Split(s, ",")
	}
	frees := []int64{0, 16 << 10, 256 << 10, 1 << 20, 4<<20 + 64<<10, 5 << 20}
	if s := os.Getenv("CKPT_RD_FREES"); s != "" {
		frees = nil
		for _, f := range strings.Split(s, ",") {
			d, _ := strconv.ParseInt(f, 10, 64)
			frees = append(frees, d)
		}
	}
	var all []rdCase
	for _, fs := range fss {
		for _, op := range ops {
			for _, dur := range []string{"sync", "nosync", "async"} {
				for _, noWAL := range []bool{false, true} {
					for _, free := range frees {
						all = append(all, rdCase{fs: fs, op: op, dur: dur, noWAL: noWAL, free: free})
					}
				}
			}
		}
	}
	n := huntRounds(14, 5)
	if n <= 0 || n >= len(all) {
		return all
	}
	// A stride prime to the matrix's sizes, so the sample meets every op,
	// file system, durability and free space.
	var some []rdCase
	for k := range n {
		some = append(some, all[(k*97)%len(all)])
	}
	return some
}

func TestRealFullDisk(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a child process per round")
	}
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	fss := []string{"tmpfs", "ext4"}
	if s := os.Getenv("CKPT_RD_FS"); s != "" {
		fss = strings.Split(s, ",")
	}
	cases := rdCases(fss)
	mnts := map[string]string{}
	for _, c := range cases {
		if mnts[c.fs] == "" {
			mnts[c.fs] = mountSmallFS(t, c.fs, 64<<20)
		}
	}
	b := rdPrepare(t)
	for _, c := range cases {
		rdRound(t, mnts[c.fs], b, c)
	}
}
