package ckpt

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestARewoundLogBesideALoweredMarkReplaysNoOldState: a store's log
// copied early (thread t saved, groups 1..k), the store going on in the
// same log (t deleted, u saved, all applied: its binding names the log at
// group G > k), then killed; its mark lowered by damage, and the early
// copy of its own log put back beside the file (restored from an older
// backup). The log is the binding's, so Open replayed it from the lowered
// mark on the word that replaying groups bbolt holds changes nothing; but
// that holds only for a replay that runs through the binding's group: the
// log ends at k, so the replay wrote the state of group k back over G's
// (thread t, deleted and acknowledged, listed again), read-write and
// read-only, with no error. Open must not return the old state: either it
// refuses the file (ErrCorrupt), or it serves what the file held; and
// after RecoverLog the store holds u and not t, and Verify is clean.
func TestARewoundLogBesideALoweredMarkReplaysNoOldState(t *testing.T) {
	t.Parallel()
	early, cp, held := earlyLogAndFile(t)
	spans := logSpans(t, early+walSuffix)
	first := spans[0].Gen
	if last := spans[len(spans)-1].Gen; last >= readMark(t, cp) {
		t.Fatalf("the early log ends at group %d, the mark is %d: want it to end below", last, readMark(t, cp))
	}
	editClosedFile(t, cp, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, first-1))
	})
	copyFileIn(t, early+walSuffix, cp+walSuffix)
	for _, ro := range []bool{true, false} {
		c := copyStore(t, cp)
		r, err := Open(c, Options{ReadOnly: ro})
		if err != nil {
			continue // refused: no old state served
		}
		if hasThread(t, r, "t") {
			t.Errorf("read-only %v: Open beside the rewound log lists thread t, deleted and acknowledged", ro)
		}
		checkLoads(t, r, "u", held)
		_ = r.Close()
	}
	st, err := RecoverLog(cp, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if !st.MarkRepaired || st.KeptGroups != 0 || st.MovedTo == "" {
		t.Errorf("RecoverLog = %+v, want the mark put back, none of the early log's groups kept, and the log moved aside", st)
	}
	if ps := markProblems(t, cp); len(ps) != 0 {
		t.Errorf("Verify after RecoverLog: %v", ps)
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

// earlyLogAndFile is the store of the h159 rewound-log tests: thread t
// saved (3 checkpoints) and the store copied as a crash leaves it (early,
// whose log ends there), then t deleted and u saved (held, its ids), all
// applied, and the store copied again (cp, the file whose mark and
// binding are past early's last group).
func earlyLogAndFile(t *testing.T) (early, cp string, held []string) {
	t.Helper()
	tune := &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}
	s := openUnappliedWith(t, filepath.Join(t.TempDir(), "s.db"), Options{tuning: tune})
	saveN(t, s, "t", 0, 3)
	early = crashCopy(t, s)
	if err := s.DeleteThread(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	held = saveN(t, s, "u", 0, 3)
	applyNow(t, s)
	return early, crashCopy(t, s), held
}
