package ckpt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

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
		editClosedFile(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, mark+1))
		})
		spans := logSpans(t, aCopy+walSuffix)
		if first, last := spans[0].Gen, spans[len(spans)-1].Gen; first > mark+2 || last <= mark+1 {
			t.Fatalf("A's log holds groups %d to %d, B's raised mark is %d: want A's groups to follow it", first, last, mark+1)
		}
		copyFileIn(t, aCopy+walSuffix, path+walSuffix)
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, ro := range []bool{true, false} {
			s, err := Open(path, Options{ReadOnly: ro})
			if err == nil {
				listed := hasThread(t, s, "a")
				_ = s.Close()
				t.Errorf("B killed %v, read-only %v: Open beside A's log = nil (A's thread in B: %v), want ErrCorrupt", killed, ro, listed)
				continue
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("B killed %v, read-only %v: Open = %v, want ErrCorrupt", killed, ro, err)
			}
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Errorf("B killed %v: an Open changed the file", killed)
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
