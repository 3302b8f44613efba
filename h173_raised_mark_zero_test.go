package ckpt

import (
	"encoding/binary"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestRecoverARaisedMarkOverABindingAtGroupZeroKeepsTheLog: a killed
// store whose file took no group of its log (bound to it at group 0: a
// new store, or one whose mark a read-write Open or recover wrote as 0)
// and whose mark reads 256, one bit above 0. RecoverLog replays the
// whole log from the binding's group, as for a mark raised above any
// other binding's group (TestRecoverAFlippedMarkOverItsLogReportsNothingDropped).
//
// It fails on 3e000ec: LogDamage.Bound 0 is read as no binding's group
// (recover.go's d.Bound != 0), so the raised mark was damage like any
// other: RecoverLog kept none of the log's three acknowledged groups,
// moved it aside ("an unknown number" dropped) and left the mark at 256.
func TestRecoverARaisedMarkOverABindingAtGroupZeroKeepsTheLog(t *testing.T) {
	t.Parallel()
	p, _, l := h145Killed(t, "t", 0, 3)
	editClosedFile(t, p, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMeta)
		if m := b.Get(keyWALApplied); len(m) == 8 && binary.BigEndian.Uint64(m) != 0 {
			t.Fatalf("the file's mark is %x, want none or 0", m)
		}
		return b.Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, 1<<8))
	})
	st, err := RecoverLog(p, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if st.KeptGroups != 3 || st.DroppedGroups() != 0 || st.DroppedBytes != 0 || !st.MarkRepaired || !st.LogWhole {
		t.Errorf("RecoverLog = %+v: want the 3 groups kept, none dropped, the mark put back, the log whole", st)
	}
	recoveredStoreWorks(t, p, "t", l, 3)
}
