package ckpt

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// A mark lowered by damage with no gap: the file took its live log's
// groups up to 4 (its binding says so), its mark reads 2, and the log
// still holds groups from 1 (the applier caught up, the log not started
// again), maybe more that bbolt lacks (a killed store). Open replays the
// log from 2 (a group bbolt holds, replayed again, changes nothing), but
// recovery, which a user runs because Verify reports the mark, repaired
// nothing: the log's scan from the mark found no damage, and the mark was
// put back only with no log beside the file. Verify went on reporting it
// until a read-write Open's replay moved it. RecoverLog must leave a file
// Verify calls clean, saying it repaired the mark, and lose nothing:
// every checkpoint, applied or only logged, loads.
func TestRecoverPutsBackALoweredMarkBesideItsLog(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		fixture func(t *testing.T) (string, []string)
	}{
		{"log applied", h158Applied},
		// The log holds 5 groups, bbolt the first 2 (h149_kept_groups_test.go).
		{"groups only logged", h149PartApplied},
	} {
		t.Run(c.name, func(t *testing.T) {
			cp, ids := c.fixture(t)
			mark := readMark(t, cp)
			if first := logSpans(t, cp+walSuffix)[0].Gen; first+1 > mark {
				t.Fatalf("the log starts at group %d, the mark is %d: want the mark lowered by 2 to leave no gap", first, mark)
			}
			editClosedFile(t, cp, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, mark-2))
			})
			if ps := markProblems(t, cp); len(ps) != 1 {
				t.Fatalf("Verify of the lowered mark reports %v, want the mark", ps)
			}
			st, err := RecoverLog(cp, Options{})
			if err != nil {
				t.Fatalf("RecoverLog: %v", err)
			}
			if !st.MarkRepaired || st.DroppedGroups() != 0 || st.LostFirst != 0 || st.MovedTo != "" {
				t.Errorf("RecoverLog = %+v, want the mark repaired and nothing dropped, lost or moved", st)
			}
			if ps := markProblems(t, cp); len(ps) != 0 {
				t.Errorf("Verify after RecoverLog: %v", ps)
			}
			if n := countThread(t, cp, "t"); n != len(ids) {
				t.Errorf("after RecoverLog thread t holds %d checkpoints, %d acknowledged", n, len(ids))
			}
			recoveredStoreWorks(t, cp, "t", ids, len(ids))
		})
	}
}

// h158Applied is a killed store whose applier caught up: bbolt holds
// every group of its log (4), which was not started again.
func h158Applied(t *testing.T) (string, []string) {
	t.Helper()
	s := openUnappliedWith(t, filepath.Join(t.TempDir(), "s.db"), Options{tuning: &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}})
	ids := saveN(t, s, "t", 0, 4)
	applyNow(t, s)
	return crashCopy(t, s), ids
}
