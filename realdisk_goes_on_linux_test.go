//go:build linux

package ckpt_test

// A real full disk fails the writes that do not fit, not the store: on a
// small tmpfs and ext4 (realdisk_fs_linux_test.go; root only, skipped
// otherwise) filled up to less free space than the log grows by at a time
// (4 MiB), a store writes checkpoints with pending writes until they fail,
// each failure wrapping ENOSPC and ErrDiskFull, not ErrFailed; once the
// filler is gone the SAME store writes again and closes cleanly; reopened,
// it holds exactly what was acknowledged, and Verify is clean. In process:
// no crash is needed, only the disk filling and emptying under an open
// store.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ckpt-go/ckpt"
)

// goesOnState is rdState and 48 KiB more (fewer writes fill the disk).
func goesOnState(i int) map[string]any {
	st := rdState(i)
	st["pad"] = strings.Repeat(rdText(i), 3)
	return st
}

type goesOnCase struct {
	fs, dur string // sync, nosync, async, nowal, or held (sync, the applier held: the log grows)
	free    int64
}

// goesOnRound runs one case in its own directory of mnt.
func goesOnRound(t *testing.T, mnt string, c goesOnCase) {
	t.Helper()
	ctx := context.Background()
	what := fmt.Sprintf("%s %s free %d", c.fs, c.dur, c.free)
	dir, err := os.MkdirTemp(mnt, "g")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.db")
	filler := filepath.Join(mnt, "filler")
	defer removeFiller(filler)
	o := ckpt.Options{NoWAL: c.dur == "nowal"}
	switch c.dur {
	case "nosync":
		o.Durability = ckpt.NoSync
	case "async":
		o.Durability = ckpt.Async
	case "held":
		o = ckpt.WithHeldApplier(o)
	}
	s, err := ckpt.Open(path, o)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer func() { _ = s.Close() }() // a failed test's store (Close again is harmless)
	acked := map[int]string{}
	failed := map[int]bool{}
	// write saves checkpoint i with a pending write (Async: then flushes,
	// so its outcome is known); it returns the outcome.
	write := func(i int) error {
		id, err := s.Save(ctx, "t", goesOnState(i), ckpt.Metadata{"i": i})
		if err == nil {
			err = s.PutWrites(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id}, rdWrite(i), "task", "")
		}
		if err == nil && c.dur == "async" {
			err = s.Flush(ctx)
		}
		if err != nil {
			failed[i] = true
		} else {
			acked[i] = id
		}
		return err
	}
	i := 0
	for ; i < 5; i++ {
		if err := write(i); err != nil {
			t.Fatalf("%s: write %d with room: %v", what, i, err)
		}
	}
	if err := fillFS(filler, c.free); err != nil {
		t.Fatalf("%s: fill: %v", what, err)
	}
	// Until three writes in a row failed: the first failure may come from
	// the log, the next from bbolt's apply.
	for inRow := 0; inRow < 3; i++ {
		// The log's first 4 MiB are preallocated; each write is 65 KiB.
		if int64(i) > 5+(4<<20+c.free)>>16+64 {
			t.Fatalf("%s: %d writes of 64 KiB on a disk with %d bytes free, none failed", what, i, c.free)
		}
		err := write(i)
		if err == nil {
			inRow = 0
			continue
		}
		inRow++
		if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ckpt.ErrDiskFull) || errors.Is(err, ckpt.ErrFailed) {
			t.Fatalf("%s: write %d on a full disk = %v, want an error wrapping ENOSPC and ErrDiskFull, not ErrFailed", what, i, err)
		}
	}
	if err := removeFiller(filler); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 5; k, i = k+1, i+1 {
		if err := write(i); err != nil {
			t.Fatalf("%s: write %d on the same store once there is room: %v (%s)", what, i, err, mountHolders(mnt))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("%s: Close with room: %v", what, err)
	}
	t.Logf("%s: %d acknowledged, %d failed", what, len(acked), len(failed))

	s, err = ckpt.Open(path, ckpt.Options{NoWAL: c.dur == "nowal"})
	if err != nil {
		t.Fatalf("%s: reopen: %v", what, err)
	}
	for i, id := range acked {
		tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "t", CheckpointID: id})
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
		if err := tp.Decode("pad", &text); err != nil || text != strings.Repeat(rdText(i), 3) {
			t.Errorf("%s: checkpoint %d reads a wrong pad (%v)", what, i, err)
		}
		if len(tp.PendingWrites) != 1 {
			t.Errorf("%s: checkpoint %d has %d pending writes, acknowledged 1", what, i, len(tp.PendingWrites))
		} else if err := tp.PendingWrites[0].Value.Decode(&w); err != nil || w != rdWrite(i)[0].Value {
			t.Errorf("%s: checkpoint %d's pending write reads wrong (%v)", what, i, err)
		}
	}
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
		// A Save that succeeded with its PutWrites failing is acknowledged
		// alone: there, but without pending writes.
		if acked[v] == "" && len(tp.PendingWrites) != 0 {
			t.Errorf("%s: the failed write %d is there (%s)", what, v, tp.Config.CheckpointID)
		}
	}
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %+v, %v", what, rep, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("%s: Close: %v", what, err)
	}
}

// goesOnCases lists every case, the telling ones first: the five ways of
// writing with less room than the log's growth on tmpfs, then on ext4 the
// log's growth (held) and bbolt's (nowal) with none. Under the race
// detector huntRounds(all, 7) of them run (about 5 s; all: 14 s on a busy
// host), CKPT_HUNT_ROUNDS=0 runs all.
func goesOnCases(fss []string) []goesOnCase {
	durs := []string{"sync", "nosync", "async", "nowal", "held"}
	if s := os.Getenv("CKPT_RD_DURS"); s != "" {
		durs = strings.Split(s, ",")
	}
	// 1 MiB free: less than the log's 4 MiB growth, room for a dozen
	// records; 0: nothing fits.
	var first, rest []goesOnCase
	for _, fs := range fss {
		for _, free := range []int64{1 << 20, 0} {
			for _, dur := range durs {
				c := goesOnCase{fs: fs, dur: dur, free: free}
				switch {
				case fs == "tmpfs" && free > 0, fs == "ext4" && (dur == "held" && free > 0 || dur == "nowal" && free == 0):
					first = append(first, c)
				default:
					rest = append(rest, c)
				}
			}
		}
	}
	all := append(first, rest...)
	if n := huntRounds(len(all), 7); n > 0 && n < len(all) {
		return all[:n]
	}
	return all
}

func TestRealFullDiskGoesOn(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	fss := []string{"tmpfs", "ext4"}
	if s := os.Getenv("CKPT_RD_FS"); s != "" {
		fss = strings.Split(s, ",")
	}
	mnts := map[string]string{}
	for _, c := range goesOnCases(fss) {
		if mnts[c.fs] == "" {
			mnts[c.fs] = mountSmallFS(t, c.fs, 32<<20)
		}
		goesOnRound(t, mnts[c.fs], c)
	}
}
