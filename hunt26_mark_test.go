package ckpt

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestMarkLoweredBelowTheLogIsRecoverable: bbolt's mark lowered by damage
// under a log that starts after it (a log made at the last Open, bound
// with the true mark) makes the log look like it skips groups: a
// read-write Open refuses it (ErrCorrupt), as it should, and a read-only
// one reads the log from the group the binding names. The binding still names the
// group the file holds, so RecoverLog must replay the log from there
// (nothing acknowledged lost); on main it failed with Open's error.
func TestMarkLoweredBelowTheLogIsRecoverable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := appliedStore(t, 4)
	s := openUnapplied(t, path)
	ids := saveN(t, s, "t", 4, 3)
	c := copyStore(t, crashCopy(t, s))
	var mark uint64
	editClosedFile(t, c, func(tx *bolt.Tx) error {
		mark = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyWALApplied))
		if mark < 2 {
			t.Fatalf("mark %d: nothing to lower", mark)
		}
		return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, mark-2))
	})
	if s2, err := Open(c, Options{}); !errors.Is(err, ErrCorrupt) {
		if err == nil {
			_ = s2.Close()
		}
		t.Fatalf("mark %d lowered to %d: Open = %v, want ErrCorrupt", mark, mark-2, err)
	}
	// A read-only Open writes nothing: it reads the log from the
	// binding's group, as recovery will leave the store
	// (h143_ro_mark_test.go).
	r, err := Open(c, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("mark %d lowered to %d: read-only Open = %v", mark, mark-2, err)
	}
	checkLoads(t, r, "t", ids)
	_ = r.Close()
	st, err := RecoverLog(c, Options{})
	if err != nil || !st.Damaged || st.KeptGroups != len(ids) {
		t.Fatalf("mark lowered: RecoverLog = %+v, %v; want the log's %d groups replayed from the binding's group", st, err, len(ids))
	}
	s2, err := Open(c, Options{})
	if err != nil {
		t.Fatalf("Open after RecoverLog: %v", err)
	}
	defer s2.Close()
	checkLoads(t, s2, "t", ids)
	if rep, err := s2.Verify(ctx, VerifyOptions{}); err != nil || !rep.OK() {
		t.Fatalf("Verify after RecoverLog: %+v, %v", rep, err)
	}
}
