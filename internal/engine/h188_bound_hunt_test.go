package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestH188PageBoundHuntSound: random puts and deletes (keys of 1-600
// bytes, values up to 3 pages: overflow), nested and inline buckets,
// many commits; the page check must pass every sound file.
func TestH188PageBoundHuntSound(t *testing.T) {
	t.Parallel()
	// H188_ROUNDS=150: 150 files, 90 s. Under -race 3 (one goroutine,
	// one bbolt handle: raceRounds); CI's plain command runs 8.
	rounds := raceRounds(t, 8, 3)
	if s := os.Getenv("H188_ROUNDS"); s != "" {
		fmt.Sscan(s, &rounds)
	}
	maxDepth, deep := 0, 0
	defer func() { t.Logf("%d files, %d of 3+ levels, deepest %d", rounds, deep, maxDepth) }()
	base := int(huntSeed("H188_SEED", 0)) // H188_SEED: the first seed
	for seed := base; seed < base+rounds; seed++ {
		r := rand.New(rand.NewPCG(uint64(seed), 188))
		path := filepath.Join(t.TempDir(), fmt.Sprintf("h%d.db", seed))
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		long := 2 + seed%20 // one key in long is 100-600 bytes: deep trees
		key := func() []byte {
			n := 1 + r.IntN(40)
			if r.IntN(long) == 0 {
				n = 100 + r.IntN(500)
			}
			k := make([]byte, n)
			for i := range k {
				k[i] = byte('a' + r.IntN(4))
			}
			return k
		}
		var keys [][]byte
		for c := 0; c < 30; c++ {
			err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("b"))
				if err != nil {
					return err
				}
				for range 50 + r.IntN(400) {
					if len(keys) > 0 && r.IntN(3) == 0 {
						i := r.IntN(len(keys))
						k := keys[i]
						if r.IntN(2) == 0 {
							_ = b.DeleteBucket(k)
						}
						if err := b.Delete(k); err != nil && err != bolt.ErrIncompatibleValue {
							return err
						}
						keys = append(keys[:i], keys[i+1:]...)
						continue
					}
					k := key()
					if r.IntN(15) == 0 {
						nb, err := b.CreateBucketIfNotExists(k)
						if err != nil {
							continue
						}
						for range r.IntN(300) {
							if err := nb.Put(key(), make([]byte, r.IntN(100))); err != nil {
								return err
							}
						}
					} else {
						v := make([]byte, r.IntN(60))
						if r.IntN(30) == 0 {
							v = make([]byte, 4096+r.IntN(8000))
						}
						if err := b.Put(k, v); err != nil {
							continue
						}
					}
					keys = append(keys, k)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		depth := 0
		_ = db.View(func(tx *bolt.Tx) error { depth = tx.Bucket([]byte("b")).Stats().Depth; return nil })
		maxDepth = max(maxDepth, depth)
		if depth >= 3 {
			deep++
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckPages(f)
		f.Close()
		if err != nil {
			t.Fatalf("seed %d: a sound file refused: %v", seed, err)
		}
	}
}
