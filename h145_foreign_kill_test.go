package ckpt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestRecoverKilledBeforeMovingAForeignLogAside: a store file whose
// binding to its log is damaged, beside another store's log (with the
// file's live mark naming its own log, or with none). RecoverLog keeps
// none of the foreign log's groups, removes the damaged binding and
// moves the log aside. Killed after its commit and before the move, it
// left a file that names no log (binding removed, live mark cleared)
// beside the foreign log, and the next Open replayed the other store's
// checkpoints into this one. Whatever the kill, no Open (nor the
// RecoverLog after it) may show the other store's thread, and every
// checkpoint the file held reads; never killed, RecoverLog removes the
// damaged binding (after the move), and Verify finds nothing.
func TestRecoverKilledBeforeMovingAForeignLogAside(t *testing.T) {
	t.Parallel()
	for _, noLive := range []bool{false, true} {
		name := "live mark names its own log"
		if noLive {
			name = "no live mark"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path, applied, _ := h145Killed(t, "t", 3, 3)
			if noLive {
				editClosedFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyWALLive) })
			}
			flipBinding(t, path, 3, 0x10)
			other, _, _ := h145Killed(t, "o", 2, 3)
			copyFileIn(t, other+walSuffix, path+walSuffix)
			// Never killed, RecoverLog removes the damaged binding (once
			// the log is aside): Verify then finds nothing.
			whole := h145Copy(t, path)
			st, err := RecoverLog(whole, Options{})
			if err != nil || !st.Foreign || !st.BindingRemoved || st.KeptGroups != 0 {
				t.Errorf("RecoverLog = %+v, %v; want the log foreign, none kept, the binding removed", st, err)
			}
			if p := markProblems(t, whole); len(p) != 0 {
				t.Errorf("Verify after RecoverLog: %v", p)
			}
			var killed string
			if _, err := RecoverLog(path, WithRecoverStep(Options{}, func(s string) {
				if s == "committed" {
					killed = h145Copy(t, path)
				}
			})); err != nil {
				t.Fatalf("RecoverLog: %v", err)
			}
			if killed == "" {
				t.Fatal("RecoverLog never reached its commit")
			}
			for try := 0; ; try++ {
				s, err := Open(killed, Options{})
				if errors.Is(err, ErrCorrupt) && try == 0 {
					if _, err := RecoverLog(killed, Options{}); err != nil {
						t.Fatalf("Open: ErrCorrupt; RecoverLog: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Open (try %d): %v", try, err)
				}
				if hasThread(t, s, "o") {
					t.Errorf("killed before the foreign log was moved aside, then opened (try %d): "+
						"the other store's thread is in this one", try)
				}
				checkLoads(t, s, "t", applied)
				_ = s.Close()
				break
			}
		})
	}
}

// h145Killed writes a store killed with applied checkpoints in its file
// and logged more in its log only (thread), returning the crash copy.
func h145Killed(t *testing.T, thread string, applied, logged int) (string, []string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(path, Options{tuning: &tuning{hooks: engine.Hooks{HoldApplier: true, LogGrow: loggedGrow}}})
	if err != nil {
		t.Fatal(err)
	}
	a := saveN(t, s, thread, 0, applied)
	if err := s.ApplyLog(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := saveN(t, s, thread, applied, logged)
	cp := crashCopy(t, s)
	_ = s.Close()
	return cp, a, l
}

// h145Copy copies the directory of the store at path (the file, its log,
// logs moved aside) into a new one, as a kill at this moment leaves it.
func h145Copy(t *testing.T, path string) string {
	t.Helper()
	dir := t.TempDir()
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		copyFileIn(t, filepath.Join(filepath.Dir(path), e.Name()), filepath.Join(dir, e.Name()))
	}
	return filepath.Join(dir, filepath.Base(path))
}
