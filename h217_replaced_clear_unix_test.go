//go:build unix

package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestCompactClearFailsSaysNameDurable: the directory's fsync after
// Compact's rename succeeds and the commit that clears the new file's
// meta/swap-unsynced mark fails (stopWrites). The store fails, but the
// file at the path is the compacted one and its name is durable: the
// error carries a *ReplacedError with Durable set and does not wrap
// ErrNotDurable (the CLI said "the rename may not survive a power cut").
func TestCompactClearFailsSaysNameDurable(t *testing.T) {
	// Not parallel: stopWrites looks through the process's descriptors.
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		var stop atomic.Bool
		path := filepath.Join(t.TempDir(), "s.db")
		tune := &tuning{hooks: engine.Hooks{SyncDir: func(dir string) error {
			if err := engine.SyncDir(dir); err != nil || !stop.Load() {
				return err
			}
			return stopWrites(path)
		}}}
		s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"v": 1}, nil); err != nil {
			t.Fatal(err)
		}
		stop.Store(true)
		_, err = s.Compact(ctx, nil)
		_ = s.Close()
		if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "clear") {
			t.Fatalf("nowal %v: Compact whose mark's clear failed = %v, want ErrFailed saying so", nowal, err)
		}
		if errors.Is(err, ErrNotDurable) {
			t.Errorf("nowal %v: the directory's fsync succeeded, and Compact's error wraps ErrNotDurable: %v", nowal, err)
		}
		re := replacedIn(err)
		if re == nil {
			t.Fatalf("nowal %v: Compact's error after its rename has no *ReplacedError: %v", nowal, err)
		}
		if re.Path != path || !re.Earlier || !re.Durable {
			t.Errorf("nowal %v: ReplacedError = {Path %q Earlier %v Durable %v}, want {%q true true}", nowal, re.Path, re.Earlier, re.Durable, path)
		}
	}
}
