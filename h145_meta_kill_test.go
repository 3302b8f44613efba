package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRecoverOfADamagedMetaPageKeepsTheLogItsNewestTransactionBound: a
// store killed with 3 acknowledged checkpoints in its log only, whose
// newest bbolt transaction (the read-write Open's commit that bound that
// log) has its meta page damaged. A read-write Open replays the log (its
// commit rewrites the damaged page), and so must recovery: RecoverLog
// rewrote the meta page from the older one, whose binding names the log
// before, and left the log for Open, which then refused it as another
// store's (the meta page no longer damaged, the binding was checked), and
// the RecoverLog after that moved it aside keeping none of its groups.
// So after RecoverLog, never killed or killed once the meta page was
// rewritten, every checkpoint must load (Open, then RecoverLog and Open
// again where Open refuses).
func TestRecoverOfADamagedMetaPageKeepsTheLogItsNewestTransactionBound(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := saveN(t, s, "t", 0, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openUnapplied(t, path) // its one commit binds the new log
	ids = append(ids, saveN(t, s, "t", 2, 3)...)
	base := crashCopy(t, s)
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	ps, newest := metaPages(t, data)
	data[newest*ps+metaBodyAt+40] ^= 0x04
	if err := os.WriteFile(base, data, 0o600); err != nil {
		t.Fatal(err)
	}
	loads := func(t *testing.T, p, what string) {
		t.Helper()
		w, err := Open(p, Options{})
		if errors.Is(err, ErrCorrupt) {
			st, rerr := RecoverLog(p, Options{})
			if rerr != nil {
				t.Fatalf("%s: Open: %v; RecoverLog: %v", what, err, rerr)
			}
			t.Logf("%s: Open: %v; RecoverLog: %+v", what, err, st)
			w, err = Open(p, Options{})
		}
		if err != nil {
			t.Fatalf("%s: Open: %v", what, err)
		}
		defer w.Close()
		for _, id := range ids {
			if _, err := w.Load(context.Background(), "t", id); err != nil {
				t.Errorf("%s: acknowledged checkpoint %s: %v", what, id, err)
			}
		}
	}
	t.Run("never killed", func(t *testing.T) {
		p := h145Copy(t, base)
		st, err := RecoverLog(p, Options{})
		if err != nil || !st.MetaRepaired {
			t.Fatalf("RecoverLog = %+v, %v; want the meta page repaired", st, err)
		}
		loads(t, p, "after RecoverLog")
	})
	for _, at := range []string{"read", "committed"} {
		t.Run("killed at "+at, func(t *testing.T) {
			p := h145Copy(t, base)
			var killed string
			_, _ = RecoverLog(p, WithRecoverStep(Options{}, func(s string) {
				if s == at && killed == "" {
					killed = h145Copy(t, p)
				}
			}))
			if killed == "" {
				if at == "read" {
					t.Fatal("RecoverLog never read the mark")
				}
				return // no commit to kill after
			}
			loads(t, killed, "killed at "+at)
		})
	}
}
