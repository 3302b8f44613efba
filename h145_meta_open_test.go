package ckpt

import (
	"bytes"
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

// TestOpenOfADamagedMetaPageChecksTheFileBeforeItsReplay: the replay that
// a read-write Open of a killed store with a damaged newest meta page
// commits first (above) must come after the store's own checks of the
// file, in the same commit: a file of a format this build does not read
// was replayed into, its damaged slot and binding written, before Open
// refused it ("nothing was changed" was false), and a file whose threads
// bucket's name is damaged had the bucket made anew by the replay and
// opened without its earlier threads, where Open refuses it otherwise
// (found by helper-147's review). The file and its log must be left
// byte-identical, and the error the check's.
func TestOpenOfADamagedMetaPageChecksTheFileBeforeItsReplay(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		from, to string
		want     error
	}{
		// A newer build writes the marker's sum with it (meta
		// "format-sum"); a marker raised without it is damage.
		{"a newer format", "format\x00\x00\x00\x08format-sum" + h170SumBytes(8), "format\x00\x00\x00\x09format-sum" + h170SumBytes(9), ErrFormatVersion},
		{"a raised format marker", "format\x00\x00\x00\x08", "format\x00\x00\x00\x09", ErrCorrupt},
		// "threads" is the last of the top buckets' names: "threadz"
		// keeps their order (the page checks pass), and no top bucket
		// named threads is left in either transaction.
		{"no threads bucket", "threads", "threadz", ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cp, _ := h145KilledMetaDamaged(t)
			data, err := os.ReadFile(cp)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Count(data, []byte(c.from)) == 0 {
				t.Fatalf("no %q in the file", c.from)
			}
			data = bytes.ReplaceAll(data, []byte(c.from), []byte(c.to))
			if err := os.WriteFile(cp, data, 0o600); err != nil {
				t.Fatal(err)
			}
			logBefore, err := os.ReadFile(cp + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(cp, Options{})
			if err == nil {
				_ = s.Close()
				t.Fatal("Open: nil error")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("Open: %v, want %v", err, c.want)
			}
			after, err := os.ReadFile(cp)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, data) {
				t.Error("Open changed the file it refused")
			}
			logAfter, err := os.ReadFile(cp + "-wal")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(logAfter, logBefore) {
				t.Error("Open changed the log of the file it refused")
			}
		})
	}
}
