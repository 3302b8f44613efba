package ckpt

import (
	"errors"

	"github.com/ckpt-go/ckpt/internal/engine"
	"os"
	"strings"
	"testing"
)

// TestKeptAllIsNotSaidOfAPowerCutsTail: a killed store's log (groups
// bbolt holds, then groups 4-6 only the log holds) with a flipped byte in
// the record of a group bbolt holds (the chain is taken up again past
// it), and, as a power cut during group 6's fsync may leave it, the
// proofs of groups 5 and 6 lost: group 6's record, written before
// anything said group 6 was durable, is a power cut's and is dropped, as
// Open drops it. RecoverLog said KeptAll ("nothing was lost with it":
// every group past the mark kept), though group 6 was dropped; and
// Open's refusal said nothing is lost. The stats must tell the power
// cut's tail apart: KeptAll false, the dropped group named (DroppedFirst..
// DroppedLast, PowerCut), and the store then holds the saves of groups
// 4-5. The same with the log's header damaged instead (put back from the
// binding and the first record: Resumed too).
func TestKeptAllIsNotSaidOfAPowerCutsTail(t *testing.T) {
	t.Parallel()
	cp, ts, us, spans := heldAndLoggedStore(t)
	data := powerCutGroupSix(t, cp, spans)
	for _, c := range []struct {
		name string
		at   int64
	}{
		{"a record bbolt holds", spans[0].End - 8},
		{"the log's header (put back from the binding)", 17},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := flippedLogCopy(t, cp, data, c.at, 0x10)
			if _, err := Open(copyStore(t, p), Options{ReadOnly: true}); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt (damaged bytes)", err)
			} else if strings.Contains(err.Error(), "nothing is lost") && !strings.Contains(err.Error(), "group 6,") {
				t.Errorf("Open says nothing is lost and nothing of group 6: %v", err)
			}
			st, err := RecoverLog(p, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if st.KeptAll || !st.PowerCut || st.KeptGroups != 2 || st.DroppedFirst != 6 || st.DroppedLast != 6 {
				t.Errorf("RecoverLog = %+v: want groups 4-5 kept, group 6 dropped (a power cut's), and not KeptAll", st)
			}
			w, err := Open(p, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			checkLoads(t, w, "t", ts)
			checkLoads(t, w, "u", us[:2])
		})
	}
}

// powerCutGroupSix returns the log of heldAndLoggedStore's store at cp
// (its records spans) with the proofs of groups 5 and 6 gone, as a power
// cut during group 6's fsync may leave it: group 6's record is then a
// power cut's.
func powerCutGroupSix(t *testing.T, cp string, spans []engine.RecordSpan) []byte {
	t.Helper()
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, r := range engine.RecordSpans(data) {
		if r.Proof && r.Gen >= 5 {
			clear(data[r.Off:r.End])
			lost++
		}
	}
	if last := spans[len(spans)-1]; last.Gen != 6 || lost < 2 {
		t.Fatalf("the log's records %v, %d proofs of groups 5-6: want group 6 last, and proofs", spans, lost)
	}
	return data
}
