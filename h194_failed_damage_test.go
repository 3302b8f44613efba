package ckpt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestH194FailStopOnDamageSaysDamage: a page id of thread t0's or t1's buckets
// damaged under an open WAL store to name a page of thread t2's; a Save
// of t1 or PutFull of t0 is acknowledged from the log, the applier's descent check refuses
// the damaged page and fails the store. On 11c71c3 Close then said "store
// failed after an I/O error", though no I/O failed: the cause is damage.
// The fail-stop error must still be ErrFailed (and ErrCorrupt), and its
// words must name damage, not an I/O error.
func TestH194FailStopOnDamageSaysDamage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	base := filepath.Join(dir, "base.db")
	m := h186Build(t, base, rand.New(rand.NewPCG(1, 186)))
	clean, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	t2 := bwJoin([]string{string(bucketThreads), "t2", string(bucketCheckpoints)})
	var flips []h190Flip
	for _, th := range []string{"t0", "t1"} {
		flips = append(flips, h190Flips(t, clean, bwJoin([]string{string(bucketThreads), th}), t2)...)
	}
	failed := 0
	for _, fl := range flips {
		for _, w := range h190Writes(m) {
			damaged := bytes.Clone(clean)
			binary.LittleEndian.PutUint64(damaged[fl.at:], uint64(fl.to))
			path := filepath.Join(dir, "run.db")
			_ = os.Remove(path + "-wal")
			if err := os.WriteFile(path, clean, 0o600); err != nil {
				t.Fatal(err)
			}
			s := openThenDamage(t, path, Options{Durability: NoSync}, damaged)
			_, _ = w.run(ctx, s)
			cerr := s.Close()
			if !errors.Is(cerr, ErrFailed) {
				continue // the Save's path did not pass the damaged id
			}
			failed++
			if !errors.Is(cerr, ErrCorrupt) {
				t.Errorf("page %d's id names page %d: Close: %v, want ErrCorrupt in the chain", fl.from, fl.to, cerr)
			}
			if msg := cerr.Error(); strings.Contains(msg, "I/O error") || !strings.Contains(msg, "damage") {
				t.Errorf("page %d's id names page %d: Close says %q: the cause is damage, not an I/O error", fl.from, fl.to, msg)
			}
		}
	}
	if failed == 0 {
		t.Fatalf("none of %d flips failed the WAL store through the applier's check", len(flips))
	}
	t.Logf("%d of %d flips failed the store", failed, len(flips))
}
