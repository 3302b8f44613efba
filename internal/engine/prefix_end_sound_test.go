package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestPrefixScanEndOnSoundTrees: checkScanEnd steps once past the key a
// prefix scan ended at and calls the bucket damaged when that step goes
// back. On a sound tree it must never fire: random keys over a small
// alphabet that holds 0x00 and 0xff (prefixes of all 0xff, keys that
// are prefixes of others), nested buckets among the keys (inline and
// not), in a read transaction and in a write transaction after Deletes
// that emptied whole leaves (nodes bbolt keeps until the commit) and
// Puts. Every scan, forward or back, with or without a start, yields
// exactly the model's keys and no error.
func TestPrefixScanEndOnSoundTrees(t *testing.T) {
	t.Parallel()
	seeds := 24
	if raceEnabled {
		seeds = 8
	}
	scans := 0
	for seed := range seeds {
		scans += soundPrefixScans(t, uint64(seed))
	}
	t.Logf("%d seeds, %d scans", seeds, scans)
}

func soundPrefixScans(t *testing.T, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 187))
	alphabet := []byte{0x00, 0x01, 'a', 'b', 0xfe, 0xff}
	randKey := func(maxLen int) []byte {
		k := make([]byte, 1+rng.IntN(maxLen))
		for i := range k {
			k[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return k
	}
	db, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := Path{[]byte("b")}
	model := map[string]bool{}  // the keys of values
	nested := map[string]bool{} // the names of nested buckets
	n := 200 + rng.IntN(1500)
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(p[0])
		if err != nil {
			return err
		}
		for range n {
			k := randKey(5)
			if nested[string(k)] {
				continue
			}
			if err := b.Put(k, make([]byte, rng.IntN(120))); err != nil {
				return err
			}
			model[string(k)] = true
		}
		for range 1 + rng.IntN(4) {
			k := randKey(5)
			if model[string(k)] || nested[string(k)] {
				continue
			}
			c, err := b.CreateBucket(k)
			if err != nil {
				return err
			}
			for i := range 1 + rng.IntN(2)*300 { // inline, or pages of its own
				if err := c.Put(fmt.Appendf(nil, "%05d", i), make([]byte, 20)); err != nil {
					return err
				}
			}
			nested[string(k)] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	scans := 0
	check := func(tx *bolt.Tx, where string) {
		v := NewBoltView(tx)
		keys := make([][]byte, 0, len(model))
		for k := range model {
			keys = append(keys, []byte(k))
		}
		slices.SortFunc(keys, bytes.Compare)
		for range 150 {
			prefix := randKey(3)
			prefix = prefix[:rng.IntN(len(prefix)+1)]
			if rng.IntN(8) == 0 {
				prefix = bytes.Repeat([]byte{0xff}, 1+rng.IntN(3))
			}
			var start []byte
			if rng.IntN(2) == 0 {
				start = randKey(5)
			}
			reverse := rng.IntN(2) == 0
			var want [][]byte
			for _, k := range keys {
				if bytes.HasPrefix(k, prefix) && (start == nil || !reverse && bytes.Compare(k, start) >= 0 || reverse && bytes.Compare(k, start) < 0) {
					want = append(want, k)
				}
			}
			if reverse {
				slices.Reverse(want)
			}
			var got [][]byte
			err := v.Scan(p, prefix, start, reverse, func(k, _ []byte) error {
				got = append(got, bytes.Clone(k))
				return nil
			})
			scans++
			if err != nil || !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("seed %d, %s: scan of prefix %x from %x (reverse %v): %d keys, err %v; want %d keys, no error",
					seed, where, prefix, start, reverse, len(got), err, len(want))
			}
		}
	}
	if err := db.View(func(tx *bolt.Tx) error { check(tx, "read"); return nil }); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	b := tx.Bucket(p[0])
	// Deletes of runs of neighbouring keys (whole leaves emptied), then
	// of single keys, then new keys.
	keys := make([]string, 0, len(model))
	for k := range model {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for range 1 + rng.IntN(4) {
		from := rng.IntN(len(keys))
		for _, k := range keys[from:min(len(keys), from+rng.IntN(200))] {
			if model[k] {
				if err := b.Delete([]byte(k)); err != nil {
					t.Fatal(err)
				}
				delete(model, k)
			}
		}
	}
	for range rng.IntN(50) {
		k := keys[rng.IntN(len(keys))]
		if model[k] {
			if err := b.Delete([]byte(k)); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		}
	}
	for range rng.IntN(50) {
		k := randKey(5)
		if nested[string(k)] {
			continue
		}
		if err := b.Put(k, []byte{1}); err != nil {
			t.Fatal(err)
		}
		model[string(k)] = true
	}
	check(tx, "write")
	return scans
}
