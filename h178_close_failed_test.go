package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// errH178Disk is the cause the fault hooks below report: Close's error
// must wrap it as well as ErrFailed.
var errH178Disk = errors.New("h178: fsync: input/output error")

// h178FailHooks returns hooks that fail the store their way once fail is
// set: the log's fsync, a bbolt commit of the applier (WAL) or of the
// commit loop (NoWAL) rolled back, or one that wrote everything and then
// reported its meta page's fsync failed.
func h178FailHooks(t testing.TB, kind string, fail *atomic.Bool) engine.Hooks {
	switch kind {
	case "log fsync":
		return engine.Hooks{SyncLog: func(f *os.File) error {
			if fail.Load() {
				return errH178Disk
			}
			return engine.Fdatasync(f)
		}}
	case "commit rolled back":
		return engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if fail.Load() {
				_ = tx.Rollback()
				return errH178Disk
			}
			return tx.Commit()
		}}
	case "meta fsync":
		return engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			err := tx.Commit()
			if fail.Load() && err == nil {
				return errH178Disk
			}
			return err
		}}
	}
	t.Fatalf("unknown fault %q", kind)
	return engine.Hooks{}
}

// A service that closes a store on shutdown reports a clean shutdown when
// Close returns nil. A store that failed (fail-stop) refused every write
// since, and its file may keep the log for the next Open: that shutdown
// was not clean, and Close must say so with an error that wraps ErrFailed
// and the cause (errors.Is finds both), whatever failed (the log's fsync,
// a bbolt commit of the applier or, NoWAL, of the commit loop, a commit
// whose meta fsync failed) and whatever the log still holds. The file is
// closed all the same (the path reopens at once and reads every
// acknowledged write), and a second Close is still ErrClosed.
func TestH178CloseOfFailedStoreSaysSo(t *testing.T) {
	for _, c := range []struct {
		fault string
		noWAL bool
	}{
		{"log fsync", false},
		{"commit rolled back", false},
		{"meta fsync", false},
		{"commit rolled back", true},
		{"meta fsync", true},
	} {
		name := c.fault
		if c.noWAL {
			name += " nowal"
		}
		t.Run(name, func(t *testing.T) {
			var fail atomic.Bool
			path := filepath.Join(t.TempDir(), "s.ckpt")
			s, err := Open(path, Options{NoWAL: c.noWAL, tuning: &tuning{hooks: h178FailHooks(t, c.fault, &fail)}})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			ids := saveN(t, s, "t", 0, 3)
			// The three writes in the file before the fault: else the
			// applier, later than usual on a busy machine, commits them
			// once fail is set, the store fails before the next Save, and
			// that Save is refused (ErrFailed) instead of acknowledged by
			// the log (shown with a 300 ms sleep after fail.Store).
			if err := s.ApplyLog(ctx); err != nil {
				t.Fatal(err)
			}
			fail.Store(true)
			_, err = s.Save(ctx, "t", map[string]any{"i": 3}, Metadata{"i": 3})
			if !c.noWAL && c.fault != "log fsync" {
				// The Save is logged (fsync'd) and acknowledged; the
				// applier's commit is what fails.
				if err != nil {
					t.Fatalf("Save (acknowledged by the log): %v", err)
				}
				if err := s.ApplyLog(ctx); !errors.Is(err, ErrFailed) {
					t.Fatalf("ApplyLog with a failing commit = %v, want ErrFailed", err)
				}
			} else if !errors.Is(err, ErrFailed) {
				t.Fatalf("Save with a failing %s = %v, want ErrFailed", c.fault, err)
			}
			if s.eng.Failed() == nil {
				t.Fatal("the store did not fail")
			}
			err = s.Close()
			if !errors.Is(err, ErrFailed) || !errors.Is(err, errH178Disk) {
				t.Errorf("Close of a failed store = %v, want an error wrapping ErrFailed and the cause", err)
			}
			if err := s.Close(); !errors.Is(err, ErrClosed) || errors.Is(err, ErrFailed) {
				t.Errorf("second Close = %v, want ErrClosed", err)
			}
			fail.Store(false)
			r, err := Open(path, Options{NoWAL: c.noWAL})
			if err != nil {
				t.Fatalf("reopen after the failed store's Close: %v", err)
			}
			checkLoads(t, r, "t", ids)
			if err := r.Close(); err != nil {
				t.Errorf("Close of the reopened store: %v", err)
			}
		})
	}
}
