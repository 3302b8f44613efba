//go:build linux

package ckpt_test

// A disk that fills and empties again and again under one open store: 16
// writers save checkpoints (each to its own thread) while a filler takes
// the file system's free space and gives it back, a reader loads what was
// acknowledged, and GC runs beside them. Every write either fails with
// ErrDiskFull (never ErrFailed: the store goes on) and is never seen, or is
// acknowledged and reads back exactly, now and after a reopen; Verify is
// clean. On tmpfs and ext4. (Not btrfs: there an fsync of the log can
// find no room, copy on write allocating at writeback, and a failed fsync
// fails the store by design, docs/durability.md "A full disk".)

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
)

func TestRealFullDiskChurn(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("fills a file system many times")
	}
	if os.Geteuid() != 0 {
		t.Skip("a real full disk needs a mount: not root")
	}
	for _, fs := range []string{"tmpfs", "ext4"} {
		t.Run(fs, func(t *testing.T) {
			mnt := mountSmallFS(t, fs, 48<<20)
			for _, dur := range []string{"sync", "nosync", "nowal"} {
				churnRound(t, mnt, fs, dur)
			}
		})
	}
}

func churnRound(t *testing.T, mnt, fs, dur string) {
	t.Helper()
	ctx := context.Background()
	what := fs + " " + dur
	dir, err := os.MkdirTemp(mnt, "c")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.db")
	filler := filepath.Join(mnt, "filler")
	defer removeFiller(filler)
	o := ckpt.Options{NoWAL: dur == "nowal"}
	if dur == "nosync" {
		o.Durability = ckpt.NoSync
	}
	s, err := ckpt.Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	const writers = 16
	perWriter := 12
	if raceEnabled {
		perWriter = 5
	}
	var (
		mu     sync.Mutex
		acked  = map[string]int{} // id -> i (i encodes writer and round)
		failed atomic.Int64
		stop   = make(chan struct{})
		bg     sync.WaitGroup
		wg     sync.WaitGroup
		bad    atomic.Value
	)
	fail := func(format string, args ...any) { bad.CompareAndSwap(nil, fmt.Sprintf(format, args...)) }
	// The filler: full, then room, again and again (fillFS leaves 0 to
	// 256 KiB free: each writer's checkpoint is about 65 KiB).
	bg.Add(1)
	go func() {
		defer bg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := fillFS(filler, int64(k%3)<<17); err != nil {
				fail("fill: %v", err)
				return
			}
			time.Sleep(20 * time.Millisecond)
			_ = removeFiller(filler)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// A reader of what was acknowledged, and GC beside it (it keeps every
	// checkpoint: KeepLast is more than a thread gets).
	bg.Add(1)
	go func() {
		defer bg.Done()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			var id string
			var want int
			for id, want = range acked {
				break
			}
			mu.Unlock()
			if id != "" {
				tp, err := s.GetTuple(ctx, ckpt.Config{ThreadID: fmt.Sprintf("w%d", want/1000), CheckpointID: id})
				var v int
				if err != nil || tp.Decode("i", &v) != nil || v != want {
					fail("read of acknowledged %s (%d): %v, i=%d", id, want, err, v)
				}
			}
			if k%8 == 0 {
				if _, err := s.GC(ctx, ckpt.Policy{KeepLast: 1000}); err != nil && (!errors.Is(err, ckpt.ErrDiskFull) || errors.Is(err, ckpt.ErrFailed)) {
					fail("GC: %v", err)
				}
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			thread := fmt.Sprintf("w%d", w)
			for r := range perWriter {
				i := w*1000 + r
				id, err := s.Save(ctx, thread, goesOnState(i), ckpt.Metadata{"i": i})
				switch {
				case err == nil:
					mu.Lock()
					acked[id] = i
					mu.Unlock()
				case errors.Is(err, ckpt.ErrDiskFull) && !errors.Is(err, ckpt.ErrFailed):
					failed.Add(1)
				default:
					fail("save %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	_ = removeFiller(filler)
	if v := bad.Load(); v != nil {
		t.Fatalf("%s: %s", what, v)
	}
	// With room, the same store writes and closes.
	if _, err := s.Save(ctx, "after", goesOnState(1), nil); err != nil {
		t.Fatalf("%s: save once there is room: %v", what, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("%s: Close with room: %v", what, err)
	}
	t.Logf("%s: %d acknowledged, %d failed", what, len(acked), failed.Load())
	s, err = ckpt.Open(path, ckpt.Options{NoWAL: o.NoWAL})
	if err != nil {
		t.Fatalf("%s: reopen: %v", what, err)
	}
	defer s.Close()
	n := 0
	for w := range writers {
		for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: fmt.Sprintf("w%d", w)}) {
			if err != nil {
				t.Fatalf("%s: list: %v", what, err)
			}
			want, ok := acked[tp.Config.CheckpointID]
			if !ok {
				t.Errorf("%s: checkpoint %s of w%d is there, never acknowledged", what, tp.Config.CheckpointID, w)
				continue
			}
			var v int
			var text string
			if tp.Decode("i", &v) != nil || v != want || tp.Decode("text", &text) != nil || text != rdText(want) {
				t.Errorf("%s: checkpoint %s reads wrong (i=%d, want %d)", what, tp.Config.CheckpointID, v, want)
			}
			n++
		}
	}
	if n != len(acked) {
		t.Errorf("%s: %d checkpoints after the reopen, want the %d acknowledged", what, n, len(acked))
	}
	if rep, err := s.Verify(ctx, ckpt.VerifyOptions{}); err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %+v, %v", what, rep, err)
	}
}
