package ckpt

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
)

// The known gaps the h166/h168 tests left around a damaged log header
// (put back from the file's binding and the first record: rebuiltHeader):
// a log of an older version (1-4: the header's version is among what the
// first record's seed tells), a mark lowered by damage beside it (the
// binding says where it was), and the header plus one record damaged. A
// killed store's log (heldAndLoggedStore: groups bbolt holds, then 4-6
// only the log holds). Open refuses or serves every save; RecoverLog keeps
// every group past the mark where the record damaged is one bbolt holds
// (or none is), and never keeps a group of a wrong value.
func TestADamagedHeaderOfAnOlderLogOrBesideALoweredMark(t *testing.T) {
	t.Parallel()
	cp, ts, us, spans := heldAndLoggedStore(t)
	mark := readMark(t, cp)
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	want := int(spans[len(spans)-1].Gen - mark)
	for v := uint32(1); v <= 5; v++ {
		log := bytes.Clone(data)
		if v < 5 {
			engine.ForgeLogVersion(log, v)
		}
		first := engine.RecordSpans(log)[0]
		for _, at := range []int64{0, 9, 13, 17, 23} {
			t.Run(fmt.Sprintf("version %d, header byte %d", v, at), func(t *testing.T) {
				p := flippedLogCopy(t, cp, log, at, 0x04)
				opensRightOrRefuses(t, p, ts, us)
				recoversEveryGroup(t, p, ts, us, want)
			})
			t.Run(fmt.Sprintf("version %d, header byte %d, a lowered mark", v, at), func(t *testing.T) {
				p := flippedLogCopy(t, cp, log, at, 0x04)
				editClosedFile(t, p, func(tx *bolt.Tx) error {
					return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, mark-1))
				})
				opensRightOrRefuses(t, p, ts, us)
				st, err := RecoverLog(p, Options{})
				if err != nil {
					t.Fatalf("RecoverLog: %v", err)
				}
				// The damaged header's log beside a lowered mark: replayed
				// from the binding's group (every group kept) or kept none
				// of (the mark put back): either way the store opens and
				// holds what it says.
				if st.KeptGroups != 0 && st.KeptGroups != want && st.KeptGroups != want+1 {
					t.Errorf("RecoverLog = %+v: want the %d groups past the binding's group kept (and the one the lowered mark lacks), or none", st, want)
				}
				w, err := Open(p, Options{ReadOnly: true})
				if err != nil {
					t.Fatalf("Open after RecoverLog (%+v): %v", st, err)
				}
				checkLoads(t, w, "t", ts)
				if st.KeptGroups >= want {
					checkLoads(t, w, "u", us)
				}
				_ = w.Close()
				if ps := markProblems(t, p); len(ps) != 0 {
					t.Errorf("Verify after RecoverLog (%+v): %v", st, ps)
				}
			})
			t.Run(fmt.Sprintf("version %d, header byte %d and the first record", v, at), func(t *testing.T) {
				// Two things damaged: the header cannot be put back (the
				// first record does not check), so nothing is kept;
				// refused all the same, and the file as it was is served.
				bad := bytes.Clone(log)
				bad[first.End-8] ^= 0x10
				p := flippedLogCopy(t, cp, bad, at, 0x04)
				opensRightOrRefuses(t, p, ts, us)
				st, err := RecoverLog(p, Options{})
				if err != nil {
					t.Fatalf("RecoverLog: %v", err)
				}
				if !st.Damaged || st.KeptAll || (st.KeptGroups != 0 && st.KeptGroups != want) {
					t.Errorf("RecoverLog = %+v: want damage, every group or none kept, and not KeptAll unless every one", st)
				}
				w, err := Open(p, Options{ReadOnly: true})
				if err != nil {
					t.Fatalf("Open after RecoverLog (%+v): %v", st, err)
				}
				checkLoads(t, w, "t", ts)
				_ = w.Close()
			})
		}
	}
}
