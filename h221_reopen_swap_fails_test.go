package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestOpenRecompactionFailingAfterItsRename: a Compact's directory fsync
// failed, so its file carries meta/swap-unsynced, and the next read-write
// Open compacts again (compactUnsyncedSwap). That Compact's own fsync of
// the directory fails too, after its rename. Open must fail (nothing may
// be acknowledged on a name that may not be durable), saying so as
// Compact does (ErrNotDurable, a *ReplacedError naming the path), hold
// nothing (a third Open does not wait on its lock), leave no .compact,
// and the next Open with a working directory compacts once more, clears
// the mark, and has every save. Untested until now (helper-217).
func TestOpenRecompactionFailingAfterItsRename(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, nowal := range []bool{false, true} {
		var fail atomic.Bool
		var dirSyncs atomic.Int64
		boom := errors.New("directory fsync: input/output error")
		tune := &tuning{hooks: engine.Hooks{SyncDir: func(dir string) error {
			dirSyncs.Add(1)
			if fail.Load() {
				return boom
			}
			return engine.SyncDir(dir)
		}}}
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range 3 {
			id, err := s.Save(ctx, "t", map[string]any{"v": i}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		fail.Store(true)
		if _, err := s.Compact(ctx, nil); !errors.Is(err, ErrNotDurable) {
			t.Fatalf("nowal %v: setup: Compact with a failing directory fsync = %v, want ErrNotDurable", nowal, err)
		}
		_ = s.Close()

		// The reopen's compaction meets the same failing directory.
		before := dirSyncs.Load()
		s, err = Open(path, Options{NoWAL: nowal, tuning: tune})
		if err == nil {
			_ = s.Close()
			t.Fatalf("nowal %v: Open whose recompaction's directory fsync failed succeeded", nowal)
		}
		if dirSyncs.Load() == before {
			t.Fatalf("nowal %v: setup: Open did not compact again (no directory fsync): %v", nowal, err)
		}
		if !errors.Is(err, boom) || !errors.Is(err, ErrNotDurable) {
			t.Errorf("nowal %v: Open = %v, want the cause and ErrNotDurable", nowal, err)
		}
		if re := replacedIn(err); re == nil || re.Path != path || !re.Earlier || re.Durable {
			t.Errorf("nowal %v: Open = %v, want a *ReplacedError {%s, Earlier, not Durable}, got %+v", nowal, err, path, re)
		}
		if _, serr := os.Lstat(path + ".compact"); serr == nil {
			t.Errorf("nowal %v: %s.compact left behind", nowal, path)
		}

		// Still failing: Open fails the same way, again (nothing held).
		if s, err := Open(path, Options{NoWAL: nowal, tuning: tune}); err == nil {
			_ = s.Close()
			t.Fatalf("nowal %v: a second Open on the failing directory succeeded", nowal)
		} else if !errors.Is(err, ErrNotDurable) {
			t.Errorf("nowal %v: second Open = %v, want ErrNotDurable", nowal, err)
		}

		fail.Store(false)
		s, err = Open(path, Options{NoWAL: nowal, tuning: tune})
		if err != nil {
			t.Fatalf("nowal %v: Open once the directory's fsync works = %v", nowal, err)
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
			t.Errorf("nowal %v: Close: %v", nowal, err)
		}
	}
}
