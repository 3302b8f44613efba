package ckpt

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestADamagedAppliedRecordBesideALoweredMarkKeepsNoOldState: a killed
// store whose log holds groups 1..7, all applied (thread t saved at 1-3,
// deleted at 4, u saved after); its mark lowered by damage to 0, and the
// body of the log's record of group 3 damaged too, with valid records
// after it. Open refuses the log (damage with valid records after it).
// RecoverLog keeps "the records before the damage": groups 1-2, which
// bbolt holds already; replayed without the groups after them, they
// write an earlier state over the file's (thread t, deleted and
// acknowledged, back). Every acknowledged write must read back as it was:
// after RecoverLog, u's checkpoints load and t is gone.
func TestADamagedAppliedRecordBesideALoweredMarkKeepsNoOldState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tune := &tuning{hooks: engine.Hooks{LogGrow: loggedGrow}}
	s := openUnappliedWith(t, filepath.Join(t.TempDir(), "s.db"), Options{tuning: tune})
	saveN(t, s, "t", 0, 3)
	if err := s.DeleteThread(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	held := saveN(t, s, "u", 0, 3)
	applyNow(t, s)
	cp := crashCopy(t, s)
	spans := logSpans(t, cp+walSuffix)
	if len(spans) < 5 || spans[2].Gen != 3 || spans[len(spans)-1].Gen != readMark(t, cp) {
		t.Fatalf("log records %v, mark %d: want groups 1.. up to the mark", spans, readMark(t, cp))
	}
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	data[spans[2].End-8] ^= 0x40 // in group 3's body
	if err := os.WriteFile(cp+walSuffix, data, 0o600); err != nil {
		t.Fatal(err)
	}
	editClosedFile(t, cp, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, 0))
	})
	for _, ro := range []bool{true, false} {
		c := copyStore(t, cp)
		r, err := Open(c, Options{ReadOnly: ro})
		if err != nil {
			continue
		}
		if hasThread(t, r, "t") {
			t.Errorf("read-only %v: Open lists thread t, deleted and acknowledged", ro)
		}
		_ = r.Close()
	}
	st, err := RecoverLog(cp, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if st.KeptGroups != 0 || !st.MarkRepaired || st.MovedTo == "" {
		t.Errorf("RecoverLog = %+v, want none of the groups the file holds kept, the mark put back, the log moved aside", st)
	}
	w, err := Open(cp, Options{})
	if err != nil {
		t.Fatalf("Open after RecoverLog (%+v): %v", st, err)
	}
	if hasThread(t, w, "t") {
		t.Errorf("after RecoverLog (%+v) thread t, deleted and acknowledged, is listed", st)
	}
	checkLoads(t, w, "u", held)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if ps := markProblems(t, cp); len(ps) != 0 {
		t.Errorf("Verify after RecoverLog: %v", ps)
	}
}
