package ckpt

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestNoWALFailedMetaSyncShowsNoFailedWrite: bbolt's commit writes the
// new meta page and then fsyncs it; if that last fsync fails, the commit
// returns the error (the store fails, the write gets ErrFailed), but the
// meta page is in the page cache: bbolt's next read transaction, and the
// next Open, would take the failed transaction as committed, and the
// write that returned an error would show up. The hook commits in full
// and then reports a failure, which is what bbolt leaves after a failed
// meta fsync. The failed checkpoint must not be read back, neither by the
// failed store nor after a reopen.
func TestNoWALFailedMetaSyncShowsNoFailedWrite(t *testing.T) {
	t.Parallel()
	var fail atomic.Bool
	commitBolt := func(tx *bolt.Tx) error {
		err := tx.Commit()
		if fail.Swap(false) && err == nil {
			return errors.New("fdatasync of the meta page: input/output error")
		}
		return err
	}
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{NoWAL: true, tuning: &tuning{hooks: engine.Hooks{CommitBolt: commitBolt}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := saveN(t, s, "t", 0, 3)
	fail.Store(true)
	if _, err := s.Save(ctx, "t", map[string]any{"i": 3}, Metadata{"i": 3}); !errors.Is(err, ErrFailed) {
		t.Fatalf("Save with a failing meta fsync = %v, want ErrFailed", err)
	}
	if snap, err := s.Latest(ctx, "t"); err != nil || snap.CheckpointID != ids[2] {
		t.Errorf("latest after the failed commit: %v %v, want %s (the failed write must not be read)", snap, err, ids[2])
	}
	if err := s.Close(); err != nil {
		t.Logf("Close after the failure: %v", err)
	}
	s, err = Open(path, Options{NoWAL: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkLoads(t, s, "t", ids)
	if snap, err := s.Latest(ctx, "t"); err != nil || snap.CheckpointID != ids[2] {
		t.Fatalf("latest after reopen: %v %v, want %s (the failed write must not come back)", snap, err, ids[2])
	}
}
