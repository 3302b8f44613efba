package ckpt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestH242ListIDsOfADamagedHistoryKey: ListIDs reads only a thread's
// history order ("ids"), whose keys carry no sum, so a changed byte in one
// of them is yielded as an id that was never saved: as documented ("an id
// yielded is not checked"). What keeps that from being wrong is GetTuple,
// which the tools (the browser's thread page) call for each id: for such
// an id it must say ErrCorrupt (its checkpoint record is missing), never
// ErrNotFound nor a tuple, and every other id yielded is one saved.
// TestH240ListIDsGoesPastADamagedCheckpoint damages a value only.
func TestH242ListIDsOfADamagedHistoryKey(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	s, err := Open(path, Options{Durability: NoSync})
	if err != nil {
		t.Fatal(err)
	}
	real := map[string]bool{}
	for i := range 300 { // the history order on pages of its own
		id, err := s.Save(ctx, "th", map[string]any{"i": i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		real[id] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cw := bwWalk(clean)
	owner := bwJoin([]string{string(bucketThreads), "th", string(bucketOrder)})
	var keys [][2]int
	for _, en := range cw.entries {
		if len(en.path) == 4 && bwJoin(en.path[:3]) == owner && en.koff >= 0 {
			keys = append(keys, [2]int{en.koff, en.klen})
		}
	}
	if len(keys) != len(real) {
		t.Fatalf("%d keys in the history order's pages, want %d", len(keys), len(real))
	}
	cases, bogus := 0, 0
	for j, k := range keys {
		if j%30 != 0 {
			continue
		}
		for i := range k[1] {
			for _, bit := range []byte{0x01, 0x80} {
				b := bytes.Clone(clean)
				b[k[0]+i] ^= bit
				p := filepath.Join(dir, "flip.db")
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
				ro, err := Open(p, Options{ReadOnly: true})
				if err != nil {
					continue
				}
				cases++
				for c, err := range ro.ListIDs(ctx, ListOptions{ThreadID: "th"}) {
					if err != nil {
						break
					}
					if real[c.CheckpointID] && c.CheckpointNS == "" {
						continue
					}
					bogus++
					if tp, err := ro.GetTuple(ctx, c); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNotFound) {
						t.Errorf("byte %d of a history key, bit %#x: ListIDs yields %q (ns %q), never saved; GetTuple: %v, %v; want ErrCorrupt", i, bit, c.CheckpointID, c.CheckpointNS, tp, err)
					}
				}
				ro.Close()
			}
		}
	}
	if cases == 0 || bogus == 0 {
		t.Fatalf("%d flips opened, %d ids never saved yielded: the test's premise is gone", cases, bogus)
	}
}
