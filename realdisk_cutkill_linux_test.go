//go:build linux

package ckpt_test

// A log record cut short by a real full disk, then a kill: on btrfs (copy
// on write: a record written over the log's preallocated zeros still needs
// new room, so the record's own write fails, partly written, and the log
// takes it back: header zeroed, fsync'd) and on tmpfs (the log's growth
// fails instead), a child process writes until writes fail with
// ErrDiskFull, deletes the filler, writes more (acknowledged), and kills
// itself (SIGKILL: no Close, the log not applied). Reopened, the store must
// hold every acknowledged write exactly and none that failed: the records
// written in the taken-back one's place must chain on from the one before
// it, or recovery stops there and loses them.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
	"github.com/ckpt-go/ckpt/internal/testchild"
)

// cutKillChild is the child: output lines
//
//	A <i> <id>   checkpoint i and its pending write acknowledged
//	F <i> <err>  checkpoint i's Save or PutWrites failed
//	CUT          a failure was a record's own write (not the log's growth)
//	STOP <i> <err>  checkpoint i failed the store (btrfs: an fsync found no room)
//
// then it kills itself.
func cutKillChild(path string) int {
	ctx := context.Background()
	free, _ := strconv.ParseInt(os.Getenv(rdFreeEnv), 10, 64)
	filler := os.Getenv(rdFillEnv)
	o := ckpt.Options{}
	switch os.Getenv(rdDurEnv) {
	case "nosync":
		o.Durability = ckpt.NoSync
	case "held":
		o = ckpt.WithHeldApplier(o)
	}
	out := bufio.NewWriter(os.Stdout)
	line := func(s string) { out.WriteString(strings.ReplaceAll(s, "\n", " ") + "\n"); out.Flush() }
	s, err := ckpt.Open(path, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 3
	}
	write := func(i int) error {
		id, err := s.Save(ctx, "t", goesOnState(i), ckpt.Metadata{"i": i})
		if err == nil {
			err = s.PutWrites(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id}, rdWrite(i), "task", "")
		}
		if err != nil {
			if !errors.Is(err, ckpt.ErrDiskFull) || errors.Is(err, ckpt.ErrFailed) {
				// The store failed: on btrfs an fsync can find no room
				// (docs/durability.md "A full disk"). This write's outcome is
				// unknown; the acknowledged ones must stand.
				line(fmt.Sprintf("STOP %d %v", i, err))
				_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
			line(fmt.Sprintf("F %d %v", i, err))
			if strings.Contains(err.Error(), "write-ahead log: write") {
				line("CUT")
			}
			return err
		}
		line(fmt.Sprintf("A %d %s", i, id))
		return nil
	}
	i := 0
	for ; i < 3; i++ {
		if write(i) != nil {
			return 3
		}
	}
	if err := fillFS(filler, free); err != nil {
		fmt.Fprintln(os.Stderr, "fill:", err)
		return 3
	}
	for inRow := 0; inRow < 3 && i < 400; i++ {
		if write(i) == nil {
			inRow = 0
		} else {
			inRow++
		}
	}
	if err := removeFiller(filler); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for k := 0; k < 5; k, i = k+1, i+1 {
		if write(i) != nil {
			return 3
		}
	}
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func TestRealFullDiskCutRecordThenKill(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("a child process per round")
	}
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	for _, fs := range []string{"btrfs", "tmpfs"} {
		t.Run(fs, func(t *testing.T) {
			mnt := mountSmallFS(t, fs, 32<<20)
			cuts := 0
			durs := []string{"sync", "nosync", "held"}
			frees := []int64{0, 1 << 20}
			if raceEnabled {
				durs, frees = durs[:2], frees[:1]
			}
			for _, dur := range durs {
				for _, free := range frees {
					cuts += cutKillRound(t, mnt, fs, dur, free)
				}
			}
			t.Logf("%s: %d records cut short and taken back", fs, cuts)
		})
	}
}

// cutKillRound runs one child and checks the store it left; it returns
// how many of the child's failures were a record's own write.
func cutKillRound(t *testing.T, mnt, fs, dur string, free int64) (cuts int) {
	t.Helper()
	ctx := context.Background()
	what := fmt.Sprintf("%s %s free %d", fs, dur, free)
	dir, err := os.MkdirTemp(mnt, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.db")
	filler := filepath.Join(mnt, "filler")
	defer removeFiller(filler)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(testchild.Binary(), "-test.run=^$")
	cmd.Env = childEnv("CKPT_FILE_CHILD=cutkill", "CKPT_CRASH_FILE="+path, rdFreeEnv+"="+strconv.FormatInt(free, 10),
		rdDurEnv+"="+dur, rdFillEnv+"="+filler)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("%s: the child ended with %v, want its own SIGKILL\n%s", what, err, stderr.String())
		return 0
	}
	acked, failed := map[int]string{}, map[int]bool{}
	unknown := -1 // the write the store failed under (STOP): either way
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		f := strings.SplitN(l, " ", 3)
		switch f[0] {
		case "A":
			i, _ := strconv.Atoi(f[1])
			acked[i] = f[2]
		case "F":
			i, _ := strconv.Atoi(f[1])
			failed[i] = true
		case "CUT":
			cuts++
		case "STOP":
			unknown, _ = strconv.Atoi(f[1])
			// Allowed only where an fsync (the log's, or bbolt's in an
			// apply, a bare errno) can find no room.
			if fs != "btrfs" || !strings.Contains(f[2], syscall.ENOSPC.Error()) {
				t.Errorf("%s: the store failed: %s", what, l)
			} else {
				t.Logf("%s: the store failed at an fsync: %s", what, l)
			}
		}
	}
	if len(failed) == 0 && !strings.Contains(stdout.String(), "\nSTOP ") {
		t.Errorf("%s: no write failed on the full disk", what)
	}
	// A child the store failed under was killed with the disk full; and
	// btrfs gives a deleted file's room back at its next commit.
	_ = removeFiller(filler)
	syscall.Sync()
	s, err := ckpt.Open(path, ckpt.Options{})
	if err != nil {
		t.Errorf("%s: reopen: %v", what, err)
		return cuts
	}
	defer s.Close()
	rdCheckAcked(t, s, what, acked, nil)
	n := 0
	for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: "t"}) {
		if err != nil {
			t.Errorf("%s: list: %v", what, err)
			break
		}
		var v int
		if err := tp.Decode("i", &v); err != nil {
			t.Errorf("%s: list: %v", what, err)
			continue
		}
		if acked[v] == "" && v != unknown && len(tp.PendingWrites) != 0 {
			t.Errorf("%s: the failed write %d is there (%s)", what, v, tp.Config.CheckpointID)
		}
		if acked[v] != "" {
			n++
		}
	}
	if n != len(acked) {
		t.Errorf("%s: %d acknowledged checkpoints listed, want %d", what, n, len(acked))
	}
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %+v, %v", what, rep, err)
	}
	t.Logf("%s: %d acknowledged, %d failed, %d cut short", what, len(acked), len(failed), cuts)
	return cuts
}
