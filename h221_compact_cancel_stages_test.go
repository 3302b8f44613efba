package ckpt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestCompactCancelledAtEachStageSaysWhatIsAtThePath: Compact's ctx is
// cancelled at each of its stages (Hooks.CompactStage), with the
// directory's fsync after the rename working or failing. Whatever it
// returns, its error carries a *ReplacedError exactly when the file at
// the path is another one than before (what the CLI compared inode
// numbers for), ErrNotDurable exactly when the fsync failed after the
// rename, and a store that did not fail goes on taking saves.
func TestCompactCancelledAtEachStageSaysWhatIsAtThePath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, stage := range []string{"copying", "synced", "renamed", "swapped"} {
		for _, dirFails := range []bool{false, true} {
			for _, nowal := range []bool{false, true} {
				name := fmt.Sprintf("%s/dirFails=%v/nowal=%v", stage, dirFails, nowal)
				var fail atomic.Bool
				cctx, cancel := context.WithCancel(ctx)
				tune := &tuning{hooks: engine.Hooks{
					CompactStage: func(s string) {
						if s == stage {
							cancel()
						}
					},
					SyncDir: func(dir string) error {
						if fail.Load() {
							return errors.New("directory fsync: input/output error")
						}
						return engine.SyncDir(dir)
					},
				}}
				path := filepath.Join(t.TempDir(), "s.db")
				s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
				if err != nil {
					t.Fatal(err)
				}
				for i := range 3 {
					if _, err := s.Save(ctx, "t", map[string]any{"v": i}, nil); err != nil {
						t.Fatal(err)
					}
				}
				before, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				fail.Store(dirFails)
				_, err = s.Compact(cctx, nil)
				fail.Store(false)
				cancel()
				after, serr := os.Stat(path)
				if serr != nil {
					t.Fatalf("%s: %v", name, serr)
				}
				swapped := !os.SameFile(before, after)
				re := replacedIn(err)
				switch {
				case err == nil && !swapped:
					t.Errorf("%s: Compact succeeded and the file at the path is the old one", name)
				case err != nil && swapped && re == nil:
					t.Errorf("%s: the file at the path is the new one, and Compact's error has no *ReplacedError: %v", name, err)
				case err != nil && !swapped && re != nil:
					t.Errorf("%s: the file at the path is the old one, and Compact's error has a *ReplacedError: %v", name, err)
				}
				if got, want := errors.Is(err, ErrNotDurable), swapped && dirFails; got != want {
					t.Errorf("%s: errors.Is(%v, ErrNotDurable) = %v, want %v", name, err, got, want)
				}
				if re != nil && (re.Path != path || !re.Earlier || re.Durable == dirFails) {
					t.Errorf("%s: ReplacedError {%s %v %v}, want {%s true %v}", name, re.Path, re.Earlier, re.Durable, path, !dirFails)
				}
				if _, serr := os.Lstat(path + ".compact"); serr == nil {
					t.Errorf("%s: .compact left behind", name)
				}
				if !errors.Is(err, ErrFailed) {
					if _, err := s.Save(ctx, "t", map[string]any{"v": 9}, nil); err != nil {
						t.Errorf("%s: Save after Compact (%v): %v", name, err, err)
					}
				}
				_ = s.Close()
				if s, err := Open(path, Options{NoWAL: nowal}); err != nil {
					t.Errorf("%s: reopen: %v", name, err)
				} else {
					if _, err := s.Latest(ctx, "t"); err != nil {
						t.Errorf("%s: Latest after reopen: %v", name, err)
					}
					_ = s.Close()
				}
			}
		}
	}
}
