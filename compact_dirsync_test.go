package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestCompactFailedDirSyncFailsStop: Compact renames the new file over the
// old one and fsyncs the directory. If that fsync fails, the rename may
// not be durable: after a power cut the path can name the old file again,
// which lacks every write applied after the compaction (the log is
// rewound once bbolt holds them, so nothing else keeps them). Writing on
// would acknowledge writes on top of a name that may be lost (the
// fsync-gate lesson), so the store fails: Compact's error and every later
// write wrap ErrFailed and the cause, reads go on, and a reopen finds
// everything acknowledged before.
func TestCompactFailedDirSyncFailsStop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newSwapFault()
	boom, failDir, tune := f.boom, &f.fail, f.tuning()
	for _, nowal := range []bool{false, true} {
		failDir.Store(false)
		path := filepath.Join(t.TempDir(), "s.db")
		s, err := Open(path, Options{NoWAL: nowal, tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for i := range 3 {
			id, err := s.Save(ctx, "t", map[string]any{"step": i}, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		failDir.Store(true)
		_, err = s.Compact(ctx, nil)
		failDir.Store(false)
		if !errors.Is(err, boom) {
			t.Fatalf("nowal %v: Compact with a failed directory fsync = %v, want its cause", nowal, err)
		}
		if _, err := s.Save(ctx, "t", map[string]any{"step": 3}, nil); !errors.Is(err, ErrFailed) || !errors.Is(err, boom) {
			t.Errorf("nowal %v: Save after the failed directory fsync = %v, want ErrFailed wrapping the cause", nowal, err)
		}
		for _, id := range ids {
			if _, err := s.Load(ctx, "t", id); err != nil {
				t.Errorf("nowal %v: read of %s after the failure: %v", nowal, id, err)
			}
		}
		_ = s.Close()
		s, err = Open(path, Options{NoWAL: nowal})
		if err != nil {
			t.Fatalf("nowal %v: reopen: %v", nowal, err)
		}
		for _, id := range ids {
			if _, err := s.Load(ctx, "t", id); err != nil {
				t.Errorf("nowal %v: %s after the reopen: %v", nowal, id, err)
			}
		}
		if _, err := s.Save(ctx, "t", map[string]any{"step": 4}, nil); err != nil {
			t.Errorf("nowal %v: Save after the reopen: %v", nowal, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
