package ckpt

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

// TestADamagedLogHeaderLosesNoGroup: a killed store's log (groups bbolt
// holds, then acknowledged groups only the log holds) with one byte of
// its 24-byte header flipped (the magic, the version, the crc, the
// identity). Open refuses it, and RecoverLog kept none of its groups:
// "the log header (its identity) is damaged while records follow". But
// nothing of the header is unknown: the file's binding names the log's
// identity, and the first record, which checks on its own, holds the
// header's crc (its seed), which only one version's header gives. Every
// acknowledged group must be kept.
func TestADamagedLogHeaderLosesNoGroup(t *testing.T) {
	t.Parallel()
	cp, ts, us, spans := heldAndLoggedStore(t)
	mark := readMark(t, cp)
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{0, 7, 11, 12, 15, 16, 23} {
		t.Run(fmt.Sprintf("byte %d", at), func(t *testing.T) {
			p := copyStore(t, cp)
			bad := append([]byte(nil), data...)
			bad[at] ^= 0x04
			if err := os.WriteFile(p+walSuffix, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{true, false} {
				r, err := Open(copyStore(t, p), Options{ReadOnly: ro})
				if err == nil {
					checkLoads(t, r, "t", ts)
					checkLoads(t, r, "u", us)
					_ = r.Close()
				} else if !errors.Is(err, ErrCorrupt) {
					t.Errorf("read-only %v: Open: %v, want ErrCorrupt or every checkpoint", ro, err)
				}
			}
			st, err := RecoverLog(p, Options{})
			if err != nil {
				t.Fatalf("RecoverLog: %v", err)
			}
			if want := int(spans[len(spans)-1].Gen - mark); st.KeptGroups != want || st.DroppedGroups() != 0 {
				t.Errorf("RecoverLog = %+v: want the %d groups past the mark kept, none dropped", st, want)
			}
			w, err := Open(p, Options{})
			if err != nil {
				t.Fatalf("Open after RecoverLog (%+v): %v", st, err)
			}
			checkLoads(t, w, "t", ts)
			checkLoads(t, w, "u", us)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if ps := markProblems(t, p); len(ps) != 0 {
				t.Errorf("Verify after RecoverLog: %v", ps)
			}
		})
	}
}
