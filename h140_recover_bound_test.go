package ckpt

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestRecoverPutsBackARaisedMarkOverAnAppliedLog: a crash left a log
// whose groups bbolt had all taken (the mark at the log's last group),
// and the mark was then raised by a flipped low bit. Open refuses it (the
// binding says bbolt took the log up to a lower group), and RecoverLog
// replays the log from the binding's group: there is nothing past it, so
// nothing was replayed, and the raised mark stayed, which Verify reports
// (the binding, written with the mark, says otherwise). RecoverLog must
// leave the mark where the binding says.
func TestRecoverPutsBackARaisedMarkOverAnAppliedLog(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ids := saveN(t, s, "t", 0, 3)
	applyNow(t, s)
	cp := crashCopy(t, s)
	editClosedFile(t, cp, func(tx *bolt.Tx) error {
		m := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyWALApplied))
		return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, m|0x100))
	})
	if _, err := RecoverLog(cp, Options{}); err != nil {
		t.Fatalf("RecoverLog: %v", err)
	}
	if ps := markProblems(t, cp); len(ps) != 0 {
		t.Errorf("after RecoverLog Verify reports %v", ps)
	}
	r, err := Open(cp, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	checkLoads(t, r, "t", ids)
	_ = r.Close()
}
