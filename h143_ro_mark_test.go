package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestReadOnlyOpenReadsAKilledStoreWithAMarkPastAnyGroup: a killed store
// (groups in its log the file lacks) whose applied mark is flipped past
// any group, its binding to its log intact. A read-only Open reads a file
// with such a mark and no log (it writes no group), but with the log it
// refused the file, and every Open's error said `ckpt recover` would
// "move the log aside", where recovery puts the mark back where the
// binding says and replays the log from there, losing nothing. The
// binding (checksummed, written with the mark by every commit that moves
// it) says which of the log's groups the file holds: a read-only Open
// must read the store as recovery will leave it (the log's groups past
// the binding's in its overlay, nothing written), Verify must name the
// mark, and a read-write Open's error must say what recovery does.
func TestReadOnlyOpenReadsAKilledStoreWithAMarkPastAnyGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openUnappliedWith(t, filepath.Join(t.TempDir(), "s.db"), Options{tuning: &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}})
	ids := saveN(t, s, "t", 0, 3)
	applyNow(t, s)
	ids = append(ids, saveN(t, s, "t", 3, 3)...)
	cp := crashCopy(t, s)
	flipAppliedMark(t, cp, 0, 0x80)
	before, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(cp, Options{})
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read-write Open = %v, want ErrCorrupt", err)
	}
	if strings.Contains(err.Error(), "move the log aside") {
		t.Errorf("read-write Open's error says recovery moves the log aside, which it does not: %v", err)
	}
	r, err := Open(cp, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only Open: %v", err)
	}
	checkLoads(t, r, "t", ids)
	rep, err := r.Verify(ctx, VerifyOptions{})
	if err != nil || rep.OK() {
		t.Errorf("Verify = %+v, %v; want the mark reported", rep, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(cp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("an Open changed the file")
	}
	if st, err := RecoverLog(cp, Options{}); err != nil || !st.MarkRepaired {
		t.Fatalf("RecoverLog = %+v, %v; want the mark repaired", st, err)
	}
	w, err := Open(cp, Options{})
	if err != nil {
		t.Fatalf("Open after RecoverLog: %v", err)
	}
	checkLoads(t, w, "t", ids)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
