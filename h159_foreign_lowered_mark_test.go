package ckpt

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestAnotherStoresLogBesideALoweredMarkIsRefused: store B's file, its
// binding to its log whole, its mark lowered by damage (two below the
// group the binding names), closed cleanly or killed with its log
// applied; store A's log (A killed, nothing applied) put beside B's file.
// Open compared the log's identity with the binding's only when the mark
// equalled the binding's group, so with the mark lowered A's groups that
// follow B's mark were replayed into B, read-write and read-only, with no
// error (A's checkpoints served as B's), and RecoverLog left the log
// beside B for the next Open to replay. Every Open must refuse the log
// (ErrCorrupt), changing nothing; RecoverLog must move it aside keeping
// none of it, and put the mark back where the binding says; B then opens
// with its own checkpoints, none of A's, and Verify calls it clean.
func TestAnotherStoresLogBesideALoweredMarkIsRefused(t *testing.T) {
	t.Parallel()
	foreignLogBesideADamagedMark(t, func(t *testing.T, mark uint64, aLog string) uint64 {
		if mark < 3 {
			t.Fatalf("B's mark is %d, want at least 3", mark)
		}
		if first := logSpans(t, aLog)[0].Gen; first > mark-1 {
			t.Fatalf("A's log starts at group %d, B's lowered mark is %d: want A's groups to follow it", first, mark-2)
		}
		return mark - 2
	})
}

// foreignLogBesideADamagedMark is the case of the test above and of
// TestAnotherStoresLogBesideARaisedMarkIsRefused: B's mark (read after
// Close, or from a killed copy) is overwritten with what damaged returns
// for it (damaged also checks that A's log, at aLog, holds groups that
// follow the damaged mark); then A's log beside B must be refused by
// every Open and moved aside by RecoverLog, the mark put back at the
// binding's group.
func foreignLogBesideADamagedMark(t *testing.T, damaged func(t *testing.T, mark uint64, aLog string) uint64) {
	tune := &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}
	a := openUnappliedWith(t, filepath.Join(t.TempDir(), "a.db"), Options{tuning: tune})
	saveN(t, a, "a", 0, 8)
	aCopy := crashCopy(t, a)
	for _, killed := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "b.db")
		b, err := Open(path, Options{tuning: tune})
		if err != nil {
			t.Fatal(err)
		}
		held := saveN(t, b, "b", 0, 4)
		if killed {
			applyNow(t, b)
			cp := crashCopy(t, b)
			_ = b.Close()
			path = cp
		} else if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		mark := readMark(t, path)
		wrong := damaged(t, mark, aCopy+walSuffix)
		editClosedFile(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, wrong))
		})
		copyFileIn(t, aCopy+walSuffix, path+walSuffix)
		if !everyOpenRefusesALog(t, path, fmt.Sprintf("B killed %v", killed)) {
			continue
		}
		st, err := RecoverLog(path, Options{})
		if err != nil {
			t.Fatalf("B killed %v: RecoverLog: %v", killed, err)
		}
		if !st.Foreign || st.KeptGroups != 0 || st.MovedTo == "" || !st.MarkRepaired {
			t.Errorf("B killed %v: RecoverLog = %+v, want A's log moved aside as not B's, none of it kept, and the mark put back", killed, st)
		}
		if got := readMark(t, path); got != mark {
			t.Errorf("B killed %v: after RecoverLog the mark is %d, want %d (the binding's group)", killed, got, mark)
		}
		if ps := markProblems(t, path); len(ps) != 0 {
			t.Errorf("B killed %v: Verify after RecoverLog: %v", killed, ps)
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
