package ckpt

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestADamagedLogHeaderUnderARaisedMarkLosesNoGroup: a killed store's log
// (groups bbolt holds, then acknowledged groups only the log holds) with
// one byte of its header flipped, and the file's mark raised by a flipped
// bit (its binding, whole, says bbolt took the log up to group 3). Each
// damage alone loses nothing: the header is put back from the binding and
// the first record, and a raised mark is put back where the binding says,
// the log replayed from there. Together, RecoverLog replayed the log from
// the binding's group with no binding to put its header back from, and
// kept none of the groups past it.
func TestADamagedLogHeaderUnderARaisedMarkLosesNoGroup(t *testing.T) {
	t.Parallel()
	cp, ts, us, spans := heldAndLoggedStore(t)
	mark := readMark(t, cp)
	data, err := os.ReadFile(cp + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []int{-1, 0, 11, 12, 16, 23} {
		t.Run(fmt.Sprintf("byte %d", at), func(t *testing.T) {
			p := flippedLogCopy(t, cp, data, int64(at), 0x04)
			editClosedFile(t, p, func(tx *bolt.Tx) error {
				m := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keyWALApplied))
				return tx.Bucket(bucketMeta).Put(keyWALApplied, binary.BigEndian.AppendUint64(nil, m|0x100))
			})
			recoversEveryGroup(t, p, ts, us, int(spans[len(spans)-1].Gen-mark))
		})
	}
}
