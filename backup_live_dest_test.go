package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// TestBackupRefusesAStoreOpenAtTheDestination: a store open at the
// destination (another Store, or another process) holds the file's lock.
// With NoWAL it has no -wal beside it, so only the lock tells that it is
// live: renaming the copy over it would leave that store writing to an
// unlinked file, and every write it acknowledged afterwards would be gone
// at its next Open. BackupFile must refuse, and the live store keep all it
// acknowledged.
func TestBackupRefusesAStoreOpenAtTheDestination(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	src, err := Open(filepath.Join(dir, "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := src.Save(ctx, "s", map[string]any{"v": 1}, nil); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		opts Options
	}{{"NoWAL", Options{NoWAL: true}}, {"ReadOnly", Options{ReadOnly: true}}} {
		t.Run(mode.name, func(t *testing.T) {
			dst := filepath.Join(dir, mode.name+".db")
			live, err := Open(dst, Options{})
			if err != nil {
				t.Fatal(err)
			}
			before, err := live.Save(ctx, "live", map[string]any{"v": "before"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := live.Close(); err != nil {
				t.Fatal(err)
			}
			if live, err = Open(dst, mode.opts); err != nil {
				t.Fatal(err)
			}
			err = src.BackupFile(ctx, dst)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("BackupFile onto a store open at the destination returned %v, want ErrInvalidConfig", err)
			}
			var after string
			if !mode.opts.ReadOnly {
				if after, err = live.Save(ctx, "live", map[string]any{"v": "after"}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := live.Close(); err != nil {
				t.Fatal(err)
			}
			re, err := Open(dst, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer re.Close()
			for _, id := range []string{before, after} {
				if id == "" {
					continue
				}
				if _, err := re.Load(ctx, "live", id); err != nil {
					t.Errorf("the live store's acknowledged checkpoint %s: %v", id, err)
				}
			}
		})
	}
}
