package ckpt

import (
	"fmt"
	"testing"
)

// TestRecoverAFlippedMarkOverItsLogReportsNothingDropped: a killed store
// (3 groups in its file, 3 more in its log) whose mark has one bit
// flipped within the range a log numbers, lowered (the log then starts
// past the mark: a gap) or raised (above the group the binding names).
// RecoverLog replays the whole log from the binding's group, keeping
// every group, and said it had dropped groups 2-6 (lowered: the gap's
// numbers), or nothing and "an unknown number" to the CLI, and that the
// mark was not repaired: the report must say nothing was dropped and the
// mark was put back.
func TestRecoverAFlippedMarkOverItsLogReportsNothingDropped(t *testing.T) {
	t.Parallel()
	for _, f := range []struct {
		at   int
		mask byte
	}{{7, 0x02}, {7, 0x01}, {6, 0x01}} {
		t.Run(fmt.Sprintf("byte %d mask %#x", f.at, f.mask), func(t *testing.T) {
			t.Parallel()
			p, a, l := h145Killed(t, "t", 3, 3)
			flipAppliedMark(t, p, f.at, f.mask)
			st, err := RecoverLog(p, Options{})
			if err != nil {
				t.Fatalf("RecoverLog: %v", err)
			}
			if st.KeptGroups != 3 || st.DroppedGroups() != 0 || st.DroppedFirst != 0 || st.DroppedBytes != 0 || !st.MarkRepaired || !st.LogWhole {
				t.Errorf("RecoverLog = kept %d, dropped %d (%d-%d, %d bytes), mark repaired %v; want 3 kept, none dropped, the mark repaired, the log whole",
					st.KeptGroups, st.DroppedGroups(), st.DroppedFirst, st.DroppedLast, st.DroppedBytes, st.MarkRepaired)
			}
			recoveredStoreWorks(t, p, "t", append(a, l...), 6)
		})
	}
}
