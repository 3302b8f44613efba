package engine

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A read view's Get answers exactly as bbolt's Bucket.Get, whatever the
// order of the keys asked for (the view steps its cursor to a key near the
// last one instead of seeking), with Scans and Has moving the same cursor
// between the Gets: present and absent keys, keys before the first and
// after the last, the names of nested buckets (nil, as Bucket.Get), a big
// bucket of many pages and an inline one.
func TestViewGetAnswersAsBucketGet(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	key := func(i int) []byte { // every other number is stored
		return binary.BigEndian.AppendUint32([]byte("k"), uint32(2*i+1))
	}
	sizes := map[string]int{"big": 5000, "small": 6, "one": 1, "empty": 0}
	err = db.Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucket([]byte("top"))
		if err != nil {
			return err
		}
		for name, n := range sizes {
			b, err := top.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range n {
				v := bytes.Repeat([]byte{byte(i)}, rng.IntN(3)*20) // empty values too
				if err := b.Put(key(i), v); err != nil {
					return err
				}
				if i%97 == 5 { // a nested bucket among the keys
					if _, err := b.CreateBucket(append(key(i), 'b')); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	v := readView(tx)
	defer v.recycle()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range sizes {
			if !yield(n) {
				return
			}
		}
	})
	last := map[string]int{}
	for step := range 200000 {
		name := names[rng.IntN(len(names))]
		n := sizes[name]
		p := Path{[]byte("top"), []byte(name)}
		// Mostly near the last key asked for in this bucket (either way,
		// as List reads newest first), sometimes anywhere or past the ends.
		i := last[name]
		switch r := rng.IntN(10); {
		case r < 6:
			i += rng.IntN(9) - 4
		case r < 8:
			i = rng.IntN(n + 2)
		default:
			i = []int{-1, 0, n - 1, n, n + 5}[rng.IntN(5)]
		}
		last[name] = i
		k := key(max(i, 0))
		switch rng.IntN(6) {
		case 0:
			k = k[:len(k)-1] // a prefix of key(i): absent, just below it
		case 1:
			k[len(k)-1]++ // between two stored keys: absent
		case 2:
			k = append(k, 'b') // a nested bucket's name, if i%97 == 5
		}
		if i < 0 {
			k = []byte("a") // before every key
		}
		switch rng.IntN(40) {
		case 0:
			_ = v.Scan(p, []byte("k"), k, rng.IntN(2) == 0, func(_, _ []byte) error {
				if rng.IntN(3) == 0 {
					return ErrStop
				}
				return nil
			})
		case 1:
			v.Has(p, k)
		}
		got := v.Get(p, k)
		want := tx.Bucket([]byte("top")).Bucket([]byte(name)).Get(k)
		if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("step %d: Get(%s, %x) = %x (nil %v), Bucket.Get = %x (nil %v)", step, name, k, got, got == nil, want, want == nil)
		}
	}
}
