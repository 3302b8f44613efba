package engine

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestAZeroedBlockOverTheLastRecordIsRefused: a Sync write b acknowledged,
// then the block of the medium (a 512-byte sector, or a 4 KiB one) that
// holds the end of b's record is zeroed, as a device that loses or
// misdirects a write may. The proof right after b's record is in that
// block too, so unless something beyond it says b was durable, the log
// reads as a crash during b's write (a torn tail) and Open drops an
// acknowledged write with no error. Open must refuse the copy
// (ErrCorrupt) or read b. b's value takes several lengths, so that its
// record ends at many places within a block. Before the fifteenth
// session every case lost b.
func TestAZeroedBlockOverTheLastRecordIsRefused(t *testing.T) {
	t.Parallel()
	for _, block := range []int{512, 4096} {
		for _, n := range []int{1, 100, 300, 470, 700, 1500, 3000, 4000, 5000} {
			t.Run(fmt.Sprintf("block=%d/value=%d", block, n), func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				path := filepath.Join(dir, "v.db")
				e, opts := vouchOpen(t, path, Hooks{HoldApplier: true})
				defer e.Close()
				put := func(k, v string) {
					t.Helper()
					if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(v)) }}); err != nil {
						t.Fatal(err)
					}
				}
				put("a", "v-a")
				want := strings.Repeat("b", n)
				put("b", want)
				r := lastDataRecord(t, path+"-wal")
				end := r.off + r.size
				if end%block == 0 {
					t.Skipf("b's record ends on a block boundary: a zeroed block takes it or its proof, not both")
				}
				from := (end - 1) / block * block
				d := openDamagedLog(t, path, filepath.Join(dir, "img"), opts, func(log []byte) {
					clear(log[from:min(from+block, len(log))])
				})
				if d == nil {
					return // refused: ErrCorrupt
				}
				defer d.Close()
				if got := readKey(t, d, "b"); got != want {
					t.Fatalf("the block at %d (b's record ends at %d) zeroed: Open succeeded and b reads %d bytes, want %d: an acknowledged write lost with no error",
						from, end, len(got), len(want))
				}
			})
		}
	}
}
