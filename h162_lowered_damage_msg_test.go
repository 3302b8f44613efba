package ckpt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// TestH162LoweredMarkDamageBelowBindingSaysWhatRecoveryDrops: a killed
// store (bbolt took groups up to the mark, later groups acknowledged in
// the log only) whose mark is lowered by damage, and a record bbolt
// holds, below the binding's group, damaged too. The chain through the
// damaged record is lost: RecoverLog puts the mark back at the binding's
// group and keeps none of the log's later groups, acknowledged writes
// among them (their records are whole, after the damage). Open's refusal
// must say so, as it does with the mark intact ("keep the records before
// it and move the log aside", naming the last group after it), not tell
// the user that recovery replays the log from the binding's group, which
// reads as if nothing were lost.
func TestH162LoweredMarkDamageBelowBindingSaysWhatRecoveryDrops(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "d.db")
	s0, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	saveN(t, s0, "d", 0, 1)
	if err := s0.Close(); err != nil {
		t.Fatal(err)
	}
	s := openUnappliedWith(t, path, Options{})
	saveN(t, s, "d", 1, 10)
	cp := crashCopy(t, s)
	// bbolt takes the log's first six groups, as the applier does (Replay
	// writes the mark and the binding with them).
	sc, err := engine.ScanLog(cp+walSuffix, readMark(t, cp))
	if err != nil || sc.Damage != nil || len(sc.Groups) < 10 {
		t.Fatalf("the killed store's log: %+v, %v", sc, err)
	}
	editClosedFile(t, cp, func(tx *bolt.Tx) error {
		return appliedMark.Replay(engine.NewBoltView(tx), engine.GroupRefs(sc.Groups[:6]))
	})
	mark := readMark(t, cp)
	spans := logSpans(t, cp+walSuffix)
	last := spans[len(spans)-1].Gen
	if last <= mark || spans[0].Gen+2 > mark {
		t.Fatalf("log groups %d-%d, mark %d: want groups on both sides of the mark", spans[0].Gen, last, mark)
	}
	// The record of the group after the log's first: below the mark.
	bad := spans[1]
	log, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	log[bad.End-9] ^= 0x40 // in its body: its header still checks
	if err := os.WriteFile(cp+walSuffix, log, 0o600); err != nil {
		t.Fatal(err)
	}
	lowered := spans[0].Gen - 1
	editClosedFile(t, cp, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, lowered))
	})
	var msgs []string
	for _, ro := range []bool{true, false} {
		_, err := Open(copyStore(t, cp), Options{ReadOnly: ro})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("read-only %v: Open = %v, want ErrCorrupt", ro, err)
		}
		msgs = append(msgs, err.Error())
	}
	rc := copyStore(t, cp)
	st, err := RecoverLog(rc, Options{})
	if err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if st.DroppedLast != last || st.KeptGroups != 0 || readMark(t, rc) != mark {
		t.Fatalf("RecoverLog: %+v, mark %d: want the groups up to %d dropped, none kept, the mark back at %d", st, readMark(t, rc), last, mark)
	}
	for _, msg := range msgs {
		if !strings.Contains(msg, fmt.Sprintf("up to group %d", last)) || !strings.Contains(msg, "move the log aside") {
			t.Errorf("Open's refusal does not say recovery drops the valid groups after the damage, up to %d, with the log moved aside:\n%s", last, msg)
		}
	}
}
