//go:build unix

package ckpt

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestH227CompactThatReplacedTheFileIsCounted: a Compact whose error
// carries a *ReplacedError put the compacted file at the path (the
// directory's fsync after the rename failed; the commit clearing the new
// file's mark failed; closing the old handle failed): the file was
// compacted, so Metrics counts it as a run, with the bytes it freed, as
// a Compact that returned nil. It counted none of them.
func TestH227CompactThatReplacedTheFileIsCounted(t *testing.T) {
	// Not parallel: stopWrites looks through the process's descriptors.
	ctx := context.Background()
	for _, c := range []string{"dir-fsync", "clear"} {
		for _, nowal := range []bool{false, true} {
			var stop atomic.Bool
			path := filepath.Join(t.TempDir(), "s.db")
			tune := &tuning{hooks: engine.Hooks{SyncDir: func(dir string) error {
				if err := engine.SyncDir(dir); err != nil || !stop.Load() {
					return err
				}
				if c == "dir-fsync" {
					return errH227Boom
				}
				return stopWrites(path)
			}}}
			s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 200 {
				if _, err := s.Save(ctx, "t", map[string]any{"v": i, "pad": make([]byte, 512)}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.GC(ctx, Policy{KeepLast: 1}); err != nil {
				t.Fatal(err)
			}
			stop.Store(true)
			st, err := s.Compact(ctx, nil)
			m := s.Metrics()
			_ = s.Close()
			if replacedIn(err) == nil {
				t.Fatalf("%s, nowal %v: Compact = %v, want a *ReplacedError", c, nowal, err)
			}
			if m.CompactRuns != 1 {
				t.Errorf("%s, nowal %v: CompactRuns = %d after a Compact that replaced the file (%v), want 1", c, nowal, m.CompactRuns, err)
			}
			if want := st.BytesBefore - st.BytesAfter; m.CompactBytesFreed != want || want <= 0 {
				t.Errorf("%s, nowal %v: CompactBytesFreed = %d, want %d (%d -> %d bytes)", c, nowal, m.CompactBytesFreed, want, st.BytesBefore, st.BytesAfter)
			}
		}
	}
}

var errH227Boom = errH227("fsync of the directory failed (test)")

type errH227 string

func (e errH227) Error() string { return string(e) }
