//go:build unix

package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestH227OpenRecompactionClearFails: the file carries
// meta/swap-unsynced (a Compact's directory fsync failed), so the next
// read-write Open compacts again; that compaction's directory fsync
// succeeds, but the commit that clears the mark in the new file fails.
// The name is durable, the new file is at the path with the mark still
// in it: Open must fail (the store failed: ErrFailed, saying the clear,
// a *ReplacedError, Durable, not ErrNotDurable), hold nothing and leave
// no .compact, and the next Open compacts once more, clears the mark and
// has every save, and writes on.
func TestH227OpenRecompactionClearFails(t *testing.T) {
	// Not parallel: stopWrites looks through the process's descriptors.
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		path, ids := markedStore(t, Options{NoWAL: nowal})
		var stop atomic.Bool
		stop.Store(true)
		var stopped atomic.Int64
		tune := &tuning{hooks: engine.Hooks{SyncDir: func(dir string) error {
			if err := engine.SyncDir(dir); err != nil || !stop.Load() {
				return err
			}
			stop.Store(false) // only the recompaction's, once
			stopped.Add(1)
			return stopWrites(path)
		}}}
		s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
		if err == nil {
			_ = s.Close()
			t.Fatalf("nowal %v: Open whose recompaction could not clear the mark succeeded (directory fsyncs stopped: %d)", nowal, stopped.Load())
		}
		if stopped.Load() != 1 {
			t.Fatalf("nowal %v: setup: Open did not reach the recompaction's directory fsync: %v", nowal, err)
		}
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "clear") {
			t.Errorf("nowal %v: Open = %v, want ErrFailed saying the mark's clear failed", nowal, err)
		}
		if errors.Is(err, ErrNotDurable) {
			t.Errorf("nowal %v: Open = %v: the directory's fsync succeeded, want no ErrNotDurable", nowal, err)
		}
		if re := replacedIn(err); re == nil || re.Path != path || !re.Durable {
			t.Errorf("nowal %v: Open = %v, want a *ReplacedError {%s, Durable}, got %+v", nowal, err, path, re)
		}
		if _, serr := os.Lstat(path + ".compact"); serr == nil {
			t.Errorf("nowal %v: %s.compact left behind", nowal, path)
		}
		if !fileHasSwapMark(t, path) {
			t.Errorf("nowal %v: the mark is gone though its clear failed", nowal)
		}

		s, err = Open(path, Options{NoWAL: nowal})
		if err != nil {
			t.Fatalf("nowal %v: Open after the failed clear = %v", nowal, err)
		}
		if s.eng.SwapUnsynced() {
			t.Errorf("nowal %v: the file still carries the swap mark after a good recompaction", nowal)
		}
		for _, id := range ids {
			if _, err := s.Load(ctx, "t", id); err != nil {
				t.Errorf("nowal %v: checkpoint %s after the reopens: %v", nowal, id, err)
			}
		}
		if _, err := s.Save(ctx, "t", map[string]any{"v": 9}, nil); err != nil {
			t.Errorf("nowal %v: Save after the reopens: %v", nowal, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if fileHasSwapMark(t, path) {
			t.Errorf("nowal %v: mark in the file after a good reopen and Close", nowal)
		}
		if _, err := os.Stat(filepath.Dir(path)); err != nil {
			t.Fatal(err)
		}
	}
}
