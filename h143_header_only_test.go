package ckpt

import (
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestRecoverMarkAndBindingFlippedBesideAHeaderOnlyLog: a store killed
// right after a read-write Open (its new log bound, nothing appended: the
// log holds its header only) whose applied mark is flipped past any group
// and whose binding to its log is damaged too. A read-write Open refuses
// the mark, and RecoverLog refused it too (no binding to say where the
// mark was, and no record in the log to say where the log began), though
// a log of no record holds no acknowledged write: whatever the mark
// numbers, nothing stored lies past it. RecoverLog must put the mark back
// (its top two bytes, where a flip makes it pass any group, cleared) and
// remove the damaged binding, saying so, after which the store opens
// with every checkpoint, writes on, and Verify finds nothing.
func TestRecoverMarkAndBindingFlippedBesideAHeaderOnlyLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	tune := &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}
	s, err := Open(path, Options{tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	ids := saveN(t, s, "t", 0, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{tuning: tune})
	if err != nil {
		t.Fatal(err)
	}
	cp := crashCopy(t, s)
	_ = s.Close()
	if spans := logSpans(t, cp+walSuffix); len(spans) != 0 {
		t.Fatalf("the log holds %d records, want its header only", len(spans))
	}
	mark := flipAppliedMark(t, cp, 0, 0x80)
	flipBinding(t, cp, 3, 0x10)
	st, err := RecoverLog(cp, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if !st.MarkRepaired || !st.BindingRemoved || st.DroppedGroups() != 0 {
		t.Errorf("RecoverLog = %+v, want the mark repaired and the binding removed, nothing dropped", st)
	}
	if got := readMark(t, cp); got != mark {
		t.Errorf("the mark is %d after RecoverLog, want %d (the flipped top byte cleared)", got, mark)
	}
	recoveredStoreWorks(t, cp, "t", ids, 3)
}
