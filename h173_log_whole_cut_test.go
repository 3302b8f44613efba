package ckpt

import "testing"

// TestLogWholeIsNotSaidOfAPowerCutsTail: a killed store's log (groups
// bbolt holds up to 3, then 4-6 only the log holds) whose proofs of
// groups 5 and 6 a power cut during group 6's fsync took, so group 6's
// record is a power cut's (dropped, as Open drops it), beside its file
// whose mark a flipped bit raised above the group its binding names (3).
// RecoverLog replays the log from the binding's group and said the log
// was whole and nothing of it dropped (LogWhole, DroppedFirst..DroppedLast
// 0, the CLI "dropped nothing"), though group 6 was dropped: the stats
// must name it (PowerCut, DroppedFirst..DroppedLast 6-6), as with a
// power cut's tail after resumed damage (TestKeptAllIsNotSaidOfAPowerCutsTail).
func TestLogWholeIsNotSaidOfAPowerCutsTail(t *testing.T) {
	t.Parallel()
	cp, ts, us, spans := heldAndLoggedStore(t)
	data := powerCutGroupSix(t, cp, spans)
	p := flippedLogCopy(t, cp, data, -1, 0)
	if m := flipAppliedMark(t, p, 6, 0x01); m != 3 {
		t.Fatalf("the mark before the flip is %d, want 3", m)
	}
	st, err := RecoverLog(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !st.MarkRepaired || st.KeptGroups != 2 || !st.PowerCut || st.DroppedFirst != 6 || st.DroppedLast != 6 || st.KeptAll {
		t.Errorf("RecoverLog = %+v: want the mark put back, groups 4-5 kept and group 6 named dropped (PowerCut, 6-6)", st)
	}
	w, err := Open(p, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	checkLoads(t, w, "t", ts)
	checkLoads(t, w, "u", us[:2])
}
