package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestAnotherStoresLogBesideADamagedBindingIsRefused: store A killed with
// groups in its log and none applied; store B's file, its binding to its
// log (meta/wal-log) damaged, killed with a log of its own or closed
// cleanly; A's log put beside B's file (an operator restoring the files
// of two stores from two backups). The binding is what told B's log from
// another's: damaged, it was read as none, and Open replayed A's groups
// that follow B's mark into B (A's checkpoints in B, and B's own, if B
// was killed, gone), read-write and read-only, with no error; RecoverLog
// removed the damaged binding and left A's log beside B for the next Open
// to replay. The file's live mark (meta/wal-live, set with the binding)
// names the log B had live; a file closed cleanly names none, and no log
// of its own lies beside it with groups past its mark. Every Open must
// refuse the log (ErrCorrupt), changing nothing, and RecoverLog must move
// it aside keeping none of its groups, after which B opens with its own
// checkpoints (those it held) and no checkpoint of A's.
func TestAnotherStoresLogBesideADamagedBindingIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The logs grow by loggedGrow (wal_test.go), not 4 MiB: each case
	// copies and reads them.
	tune := &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}
	a := openUnappliedWith(t, filepath.Join(dir, "a.db"), Options{tuning: tune})
	saveN(t, a, "a", 0, 6)
	aCopy := crashCopy(t, a)
	for _, killed := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "b.db")
		b, err := Open(path, Options{tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		held := saveN(t, b, "b", 0, 2)
		if killed {
			applyNow(t, b)
			cp := crashCopy(t, b)
			_ = b.Close()
			path = cp
		} else if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		flipBinding(t, path, 3, 0x10)
		copyFileIn(t, aCopy+walSuffix, path+walSuffix)
		if !everyOpenRefusesALog(t, path, fmt.Sprintf("B killed %v", killed)) {
			continue
		}
		st, err := RecoverLog(path, Options{})
		if err != nil {
			t.Fatalf("B killed %v: RecoverLog: %v", killed, err)
		}
		if !st.Foreign || st.Unverified == killed || st.KeptGroups != 0 || st.MovedTo == "" {
			t.Errorf("B killed %v: RecoverLog = %+v, want A's log moved aside as not B's (unverified: nothing in a cleanly closed B names a log), none of it kept", killed, st)
		}
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatalf("B killed %v: Open after RecoverLog: %v", killed, err)
		}
		checkLoads(t, s, "b", held)
		if hasThread(t, s, "a") {
			t.Errorf("B killed %v: after RecoverLog A's thread is in B", killed)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// hasThread says whether s lists thread.
func hasThread(t *testing.T, s *Store, thread string) bool {
	t.Helper()
	for th, err := range s.Threads(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if th.ThreadID == thread {
			return true
		}
	}
	return false
}

// everyOpenRefusesALog checks that a read-only and a read-write Open of
// path each refuse it with ErrCorrupt (the log beside it is another
// store's: neither may list that store's thread "a") and that neither
// changed the file; it reports whether the file is unchanged (the case's
// later checks need it so). what names the case in failures.
func everyOpenRefusesALog(t *testing.T, path, what string) bool {
	t.Helper()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{true, false} {
		s, err := Open(path, Options{ReadOnly: ro})
		if err == nil {
			listed := hasThread(t, s, "a")
			_ = s.Close()
			t.Errorf("%s, read-only %v: Open beside A's log = nil (A's thread in B: %v), want ErrCorrupt", what, ro, listed)
			continue
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s, read-only %v: Open = %v, want ErrCorrupt", what, ro, err)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Errorf("%s: an Open changed the file", what)
		return false
	}
	return true
}
