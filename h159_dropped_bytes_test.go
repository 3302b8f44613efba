package ckpt

import "testing"

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
	early, cp, held := earlyLogAndFile(t)
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
