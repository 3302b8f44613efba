package ckpt

import (
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
			p := flippedLogCopy(t, cp, data, int64(at), 0x04)
			opensRightOrRefuses(t, p, ts, us)
			recoversEveryGroup(t, p, ts, us, int(spans[len(spans)-1].Gen-mark))
		})
	}
}
