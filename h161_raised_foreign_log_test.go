package ckpt

import "testing"

// TestAnotherStoresLogBesideARaisedMarkIsRefused: store B's file, its
// binding to its log whole, its mark raised by damage (one past the group
// the binding names), closed cleanly or killed with its log applied;
// store A's log (A killed, nothing applied, groups past B's raised mark)
// put beside B's file. A binding below the mark naming another log was
// not checked (a build that does not bind may have written the mark since,
// with a log of its own), so A's groups past the raised mark were replayed
// into B: A's checkpoints served as B's. But A's log is of a version only
// builds that bind write (logV2 on), and such a build binds its log
// before it appends: the exemption cannot apply to it. Every Open must
// refuse the log (ErrCorrupt), changing nothing; RecoverLog must move it
// aside keeping none of it and put the mark back where the binding says
// (as with no log beside the file); B then opens with its own
// checkpoints, none of A's, and Verify calls it clean.
func TestAnotherStoresLogBesideARaisedMarkIsRefused(t *testing.T) {
	t.Parallel()
	foreignLogBesideADamagedMark(t, func(t *testing.T, mark uint64, aLog string) uint64 {
		spans := logSpans(t, aLog)
		if first, last := spans[0].Gen, spans[len(spans)-1].Gen; first > mark+2 || last <= mark+1 {
			t.Fatalf("A's log holds groups %d to %d, B's raised mark is %d: want A's groups to follow it", first, last, mark+1)
		}
		return mark + 1
	})
}
