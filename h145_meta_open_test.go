package ckpt

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestOpenOfADamagedMetaPageFailingBeforeItsReplayKeepsTheLog: a killed
// store with acknowledged checkpoints in its log only, whose newest meta
// page (the commit that bound that log) is damaged. A read-write Open
// replays the log, and its replay's commit writes the damaged page's
// slot; but the Open's first commit was its Init's, before the replay:
// the log's fsync before the replay failing (or a kill there) left the
// file one transaction back with the damaged page replaced, bound to the
// log before, and the next Open refused the store's own log as another
// store's (RecoverLog then moved it aside keeping none of it). After the
// failed Open, every checkpoint must load (Open, or RecoverLog then Open).
func TestOpenOfADamagedMetaPageFailingBeforeItsReplayKeepsTheLog(t *testing.T) {
	t.Parallel()
	cp, ids := h145KilledMetaDamaged(t)
	eio := errors.New("fsync fails")
	calls := 0
	w, err := Open(cp, Options{tuning: &tuning{hooks: engine.Hooks{SyncLog: func(f *os.File) error {
		if calls++; calls == 1 {
			return eio
		}
		return engine.Fdatasync(f)
	}}}})
	if err == nil {
		_ = w.Close()
		t.Fatal("Open whose log fsync failed before the replay: nil error")
	}
	if !errors.Is(err, eio) {
		t.Fatalf("Open whose log fsync failed before the replay: %v, want that error", err)
	}
	w, err = Open(cp, Options{})
	if errors.Is(err, ErrCorrupt) {
		if _, rerr := RecoverLog(cp, Options{}); rerr != nil {
			t.Fatalf("Open: %v; RecoverLog: %v", err, rerr)
		}
		w, err = Open(cp, Options{})
	}
	if err != nil {
		t.Fatalf("Open after the failed one: %v", err)
	}
	defer w.Close()
	for _, id := range ids {
		if _, err := w.Load(context.Background(), "t", id); err != nil {
			t.Errorf("acknowledged checkpoint %s: %v", id, err)
		}
	}
}
