package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestH188WalkHuntSound: a bucket of values and nested buckets; in a write
// transaction, random runs of deletes (leaves emptied) and puts, then
// Scan (both ways, prefix, start, stopped early) and Buckets (after) over
// it, checked against a model; again in a read-only transaction after the
// commit. A sound file must never be ErrCorrupt, and every walk must give
// the model's keys.
func TestH188WalkHuntSound(t *testing.T) {
	t.Parallel()
	// H188_ROUNDS=150: 576,000 walks, 125 s. Under -race 3 (one
	// goroutine, one bbolt handle: raceRounds); CI's plain command runs 10.
	rounds := raceRounds(t, 10, 3)
	if s := os.Getenv("H188_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	walks := 0
	base := int(huntSeed("H188_SEED", 0)) // H188_SEED: the first seed
	for seed := base; seed < base+rounds; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 1880))
		db, err := bolt.Open(filepath.Join(t.TempDir(), "w.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := Path{[]byte("t")}
		model := map[string]bool{} // key -> is a bucket
		key := func() string {
			return fmt.Sprintf("%c%05d", 'a'+r.IntN(3), r.IntN(3000))
		}
		check := func(tx *bolt.Tx, what string) {
			v := NewBoltView(tx)
			var all []string
			for k := range model {
				all = append(all, k)
			}
			sort.Strings(all)
			for range 40 {
				prefix := []string{"", "a", "b", "c", "b0", "a02"}[r.IntN(6)]
				var start []byte
				if r.IntN(2) == 0 {
					start = []byte(key())
				}
				reverse := r.IntN(2) == 0
				stopAt := -1
				if r.IntN(3) == 0 {
					stopAt = r.IntN(20)
				}
				var want []string
				for _, k := range all {
					if model[k] || !strings.HasPrefix(k, prefix) {
						continue
					}
					if start != nil && (!reverse && k < string(start) || reverse && k >= string(start)) {
						continue
					}
					want = append(want, k)
				}
				if reverse {
					slices.Reverse(want)
				}
				if stopAt >= 0 && stopAt < len(want) {
					want = want[:stopAt+1]
				}
				var got []string
				err := v.Scan(p, []byte(prefix), start, reverse, func(k, _ []byte) error {
					got = append(got, string(k))
					if len(got)-1 == stopAt {
						return ErrStop
					}
					return nil
				})
				walks++
				if err != nil || !slices.Equal(got, want) {
					t.Fatalf("seed %d %s: scan %q from %q reverse %v stop %d: %v, %d keys, want %d", seed, what, prefix, start, reverse, stopAt, err, len(got), len(want))
				}
				var after []byte
				if r.IntN(2) == 0 {
					after = []byte(key())
				}
				var wantB, gotB []string
				for _, k := range all {
					if model[k] && (after == nil || k > string(after)) {
						wantB = append(wantB, k)
					}
				}
				err = v.Buckets(p, after, func(n []byte) error { gotB = append(gotB, string(n)); return nil })
				walks++
				if err != nil || !slices.Equal(gotB, wantB) {
					t.Fatalf("seed %d %s: buckets after %q: %v, %d names, want %d", seed, what, after, err, len(gotB), len(wantB))
				}
			}
		}
		for c := range 12 {
			err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(p[0])
				if err != nil {
					return err
				}
				for range 3 {
					if c > 0 && r.IntN(2) == 0 {
						// A run of deletes: leaves emptied in the tx.
						lo := key()
						hi := lo[:1] + fmt.Sprintf("%05d", r.IntN(3000))
						for k, isB := range model {
							if k >= lo && k < hi || r.IntN(10) == 0 {
								if isB {
									err = b.DeleteBucket([]byte(k))
								} else {
									err = b.Delete([]byte(k))
								}
								if err != nil {
									return err
								}
								delete(model, k)
							}
						}
					} else {
						for range 300 {
							k := key()
							if _, ok := model[k]; ok {
								continue
							}
							if r.IntN(12) == 0 {
								nb, err := b.CreateBucket([]byte(k))
								if err != nil {
									return err
								}
								if r.IntN(2) == 0 {
									if err := nb.Put([]byte("x"), make([]byte, r.IntN(3000))); err != nil {
										return err
									}
								}
								model[k] = true
							} else {
								if err := b.Put([]byte(k), make([]byte, r.IntN(80))); err != nil {
									return err
								}
								model[k] = false
							}
						}
					}
					check(tx, fmt.Sprintf("commit %d, in the write tx", c))
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.View(func(tx *bolt.Tx) error { check(tx, fmt.Sprintf("commit %d, read", c)); return nil }); err != nil && !errors.Is(err, ErrStop) {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	t.Logf("%d seeds, %d walks", rounds, walks)
}

// TestH188WalkSmallBuckets: buckets of 0-3 keys (inline in their parent,
// and with a value large enough to take a page of their own), with a key
// deleted in the write transaction: every Scan and Buckets gives the
// model's keys, never ErrCorrupt.
func TestH188WalkSmallBuckets(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	walks := 0
	for n := range 4 {
		for _, big := range []bool{false, true} {
			for del := -1; del < n; del++ {
				name := []byte(fmt.Sprintf("b%d-%v-%d", n, big, del))
				p := Path{[]byte("top"), name}
				var keys []string
				err := db.Update(func(tx *bolt.Tx) error {
					top, err := tx.CreateBucketIfNotExists(p[0])
					if err != nil {
						return err
					}
					b, err := top.CreateBucket(name)
					if err != nil {
						return err
					}
					for i := range n {
						v := []byte("v")
						if big {
							v = make([]byte, 5000)
						}
						k := fmt.Sprintf("k%d", i)
						if err := b.Put([]byte(k), v); err != nil {
							return err
						}
						keys = append(keys, k)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				run := func(tx *bolt.Tx, what string, keys []string) {
					v := NewBoltView(tx)
					for _, reverse := range []bool{false, true} {
						for _, start := range []string{"", "k0", "k1", "k2", "k9", "a"} {
							for _, prefix := range []string{"", "k", "k1", "z"} {
								var want []string
								for _, k := range keys {
									if strings.HasPrefix(k, prefix) && (start == "" || !reverse && k >= start || reverse && k < start) {
										want = append(want, k)
									}
								}
								if reverse {
									slices.Reverse(want)
								}
								var st []byte
								if start != "" {
									st = []byte(start)
								}
								var got []string
								err := v.Scan(p, []byte(prefix), st, reverse, func(k, _ []byte) error { got = append(got, string(k)); return nil })
								walks++
								if err != nil || !slices.Equal(got, want) {
									t.Fatalf("%s %s: scan %q from %q reverse %v: %q, %v; want %q", name, what, prefix, start, reverse, got, err, want)
								}
							}
						}
					}
					var got []string
					if err := v.Buckets(Path{p[0]}, nil, func(n []byte) error { got = append(got, string(n)); return nil }); err != nil {
						t.Fatalf("%s %s: buckets: %v", name, what, err)
					}
					walks++
				}
				if err := db.View(func(tx *bolt.Tx) error { run(tx, "read", keys); return nil }); err != nil {
					t.Fatal(err)
				}
				errBack := errors.New("back")
				err = db.Update(func(tx *bolt.Tx) error {
					ks := keys
					if del >= 0 {
						if err := tx.Bucket(p[0]).Bucket(name).Delete([]byte(keys[del])); err != nil {
							return err
						}
						ks = slices.Delete(slices.Clone(keys), del, del+1)
					}
					run(tx, "write", ks)
					return errBack
				})
				if !errors.Is(err, errBack) {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("%d walks", walks)
}
