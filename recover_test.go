package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
)

// RecoverLog keeps the groups before the damage, moves the damaged log
// aside unchanged, reports what it dropped, and the store opens and writes
// on from the last kept group.
func TestRecoverLogKeepsThePrefix(t *testing.T) {
	t.Parallel()
	s, ids, starts, ends := loggedRecords(t, 30)
	_, log := readBoth(t, crashCopy(t, s))
	bad := bytes.Clone(log)
	bad[starts[9]+30] ^= 0x01 // group 10
	cp := withLog(t, s, bad)
	if _, err := Open(cp, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open = %v, want ErrCorrupt", err)
	}
	st, err := RecoverLog(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Dropped up to the end of the log: group 30's record and its proof
	// (padded to the next block, and its second copy there: log version 5).
	spans := engine.RecordSpans(log)
	last := spans[len(spans)-1]
	if !last.Proof || last.Gen != 30 || !slices.ContainsFunc(spans, func(r engine.RecordSpan) bool { return r.Proof && r.Off == ends[29] }) {
		t.Fatalf("the log ends in %+v, want group 30's proof after its record", last)
	}
	if !st.Damaged || st.KeptGroups != 9 || st.DroppedFirst != 10 || st.DroppedLast != 30 || st.DroppedGroups() != 21 ||
		st.Offset != starts[9] || st.DroppedBytes != last.End-starts[9] {
		t.Fatalf("RecoverLog = %+v; want 9 kept, groups 10-30 (21) dropped from offset %d, %d bytes", st, starts[9], last.End-starts[9])
	}
	if moved, err := os.ReadFile(st.MovedTo); err != nil || !bytes.Equal(moved, bad) {
		t.Fatalf("the damaged log at %q: %v (changed: %v)", st.MovedTo, err, !bytes.Equal(moved, bad))
	}
	if filepath.Dir(st.MovedTo) != filepath.Dir(cp) {
		t.Fatalf("moved to %s, outside the store's directory", st.MovedTo)
	}
	if _, err := os.Stat(cp + walSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the damaged log is still in place: %v", err)
	}
	r, err := Open(cp, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	checkLoads(t, r, "t", ids[:9])
	if _, err := r.Load(context.Background(), "t", ids[9]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped group 10: %v, want ErrNotFound", err)
	}
	more := saveN(t, r, "t", 30, 1)
	if snap, err := r.Load(context.Background(), "t", more[0]); err != nil || snap.ParentID != ids[8] {
		t.Fatalf("a write after recovery: %v %v, want parent %s", snap, err, ids[8])
	}
}

// RecoverLog leaves a sound log (or a torn tail, which Open drops by
// itself) alone.
func TestRecoverLogLeavesASoundLogAlone(t *testing.T) {
	t.Parallel()
	s, ids, starts, _ := loggedRecords(t, 5)
	_, log := readBoth(t, crashCopy(t, s))
	torn := bytes.Clone(log)
	clear(torn[starts[4]+5:])
	for name, l := range map[string][]byte{"sound": log, "torn": torn} {
		cp := withLog(t, s, l)
		st, err := RecoverLog(cp, Options{})
		if err != nil || st.Damaged {
			t.Fatalf("%s: RecoverLog = %+v, %v", name, st, err)
		}
		if _, after := readBoth(t, cp); !bytes.Equal(after, l) {
			t.Fatalf("%s: RecoverLog changed the log", name)
		}
		r, err := Open(cp, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkLoads(t, r, "t", ids[:4])
		_ = r.Close()
	}
}
