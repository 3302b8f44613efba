package ckpt

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// TestAnEarlierLogEndingBelowTheMarkDropsNoNegativeBytes: an earlier copy
// of the store's own log (its valid records end at group 3, zeros after
// them) beside the file whose mark and binding say 7. Open refuses it
// (the records do not reach the mark) and RecoverLog moves it aside; but
// its report said it dropped -12320 bytes (the damage's end taken as the
// last non-zero byte past the records' end: none, so 0, less the
// offset), which the CLI printed as it was. Nothing past the records is
// dropped: DroppedBytes must be 0.
func TestAnEarlierLogEndingBelowTheMarkDropsNoNegativeBytes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tune := &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}
	s := openUnappliedWith(t, filepath.Join(t.TempDir(), "s.db"), Options{tuning: tune})
	saveN(t, s, "t", 0, 3)
	early := crashCopy(t, s)
	if err := s.DeleteThread(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	held := saveN(t, s, "u", 0, 3)
	applyNow(t, s)
	cp := crashCopy(t, s)
	copyFileIn(t, early+walSuffix, cp+walSuffix)
	st, err := RecoverLog(cp, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if !st.Damaged || st.KeptGroups != 0 || st.MovedTo == "" || st.DroppedBytes != 0 {
		t.Errorf("RecoverLog = %+v, want the log moved aside, none of it kept, and 0 bytes dropped", st)
	}
	w, err := Open(cp, Options{})
	if err != nil {
		t.Fatalf("Open after RecoverLog: %v", err)
	}
	defer w.Close()
	if hasThread(t, w, "t") {
		t.Error("after RecoverLog thread t, deleted and acknowledged, is listed")
	}
	checkLoads(t, w, "u", held)
}
