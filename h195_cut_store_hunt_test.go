package ckpt_test

// A hunt for a store that held data and that Open empties as a new
// file's first pages cut short (internal/engine/newfile.go): real stores
// of each page size, with and without the log, with one or more saves
// (some left in the log by a store not closed), cut to seeded lengths
// under four pages, opened read-write at every page size Options gives.
// Each Open must refuse and leave the file byte-identical.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/ckpt-go/ckpt"
	bolt "go.etcd.io/bbolt"
)

func TestH195CutStoreNeverEmptied(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(195, 1))
	sizes := []int{1024, 4096, 16384, 65536}
	opens, cuts := 0, 0
	// Under -race every 4th Open (RaceSampleForTest: one cut copy opened
	// at a time, so the detector meets only what the store's own
	// goroutines do beside an Open, which the sample meets too); CI's
	// plain command opens every one. The stores are built and the cuts
	// drawn whole, so an Open kept is the one a whole run makes.
	keep, pos := ckpt.RaceSampleForTest(t, 4), -1
	for _, ps := range sizes {
		for _, noWAL := range []bool{true, false} {
			for saves := 1; saves <= 3; saves += 2 {
				src := filepath.Join(t.TempDir(), "src.db")
				s, err := ckpt.Open(src, ckpt.Options{NoWAL: noWAL, Bolt: &bolt.Options{PageSize: ps}})
				if err != nil {
					t.Fatal(err)
				}
				for i := range saves {
					if _, err := s.Save(ctx, fmt.Sprint("t", i), map[string]any{"n": i}, nil); err != nil {
						t.Fatal(err)
					}
				}
				// The file as it stands with the log still open: what a
				// copy taken under a running store holds.
				whole, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				closed, err := os.ReadFile(src)
				if err != nil {
					t.Fatal(err)
				}
				for _, img := range [][]byte{whole, closed} {
					lens := []int{80, 81, 100, ps - 1, ps, ps + 80, 2 * ps, 3*ps - 1, 3 * ps}
					for range 12 {
						lens = append(lens, 80+rng.IntN(min(4*ps, len(img))-80))
					}
					for _, n := range lens {
						if n > len(img) || n >= 4*ps {
							continue
						}
						cuts++
						for _, ops := range append([]int{0}, sizes...) {
							if pos++; !keep(pos) {
								continue
							}
							path := filepath.Join(t.TempDir(), "s.db")
							if err := os.WriteFile(path, img[:n], 0o600); err != nil {
								t.Fatal(err)
							}
							opens++
							s, err := ckpt.Open(path, ckpt.Options{Bolt: &bolt.Options{PageSize: ops}})
							if err == nil {
								_ = s.Close()
								t.Errorf("page size %d, log %v, %d saves: a store cut to %d bytes opened at page size %d", ps, !noWAL, saves, n, ops)
							}
							if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, img[:n]) {
								t.Errorf("page size %d, %d saves: a store cut to %d bytes, Open at page size %d changed it (%d bytes, %v)", ps, saves, n, ops, len(b), err)
							}
						}
					}
				}
			}
		}
	}
	t.Logf("%d cuts, %d read-write Opens refused, each file left as it was", cuts, opens)
}
