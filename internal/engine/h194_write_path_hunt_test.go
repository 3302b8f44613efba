package engine

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// h194Model is what a sound store holds: each bucket's keys and sequence,
// by its path joined with "/".
type h194Model struct {
	keys map[string]map[string][]byte
	seq  map[string]uint64
}

func (m h194Model) clone() h194Model {
	c := h194Model{keys: map[string]map[string][]byte{}, seq: maps.Clone(m.seq)}
	for p, ks := range m.keys {
		c.keys[p] = maps.Clone(ks)
	}
	return c
}

// made records that bucket p and those above it exist.
func (m h194Model) made(p Path) {
	for i := 1; i <= len(p); i++ {
		s := string(bytes.Join(p[:i], []byte("/")))
		if m.keys[s] == nil {
			m.keys[s] = map[string][]byte{}
		}
	}
}

func (m h194Model) drop(p Path) {
	s := string(bytes.Join(p, []byte("/")))
	for q := range m.keys {
		if q == s || strings.HasPrefix(q, s+"/") {
			delete(m.keys, q)
			delete(m.seq, q)
		}
	}
}

// TestH194WritePathNeverRefusesASoundStore is a seeded random-model hunt
// of the checked descent (write_path.go) on sound bbolt files: page sizes
// 1-64 KiB; buckets nested up to 5 deep, inline ones that grow past a
// page and shrink back (fill and drain phases), emptied and refilled,
// dropped (nested ones with them) and remade in the transaction that
// wrote them; keys of 1 byte to bbolt's 32 KiB limit; values of 0 bytes
// to 10 MiB (overflow pages); sequences; 1 to 400 operations a
// transaction, some rolled back. Every write must pass (a false ErrCorrupt
// fails the store), and the file must hold the model after.
func TestH194WritePathNeverRefusesASoundStore(t *testing.T) {
	t.Parallel()
	// Under -race one seed of each page size: the hunt is one goroutine
	// on one bbolt handle; CI's plain command runs all three
	// (raceRounds).
	seeds := raceRounds(t, 3, 1)
	if testing.Short() {
		seeds = 1
	}
	seeds = huntCount("H194_SEEDS", seeds)
	for _, ps := range []int{1024, 4096, 16384, 65536} {
		base := int(huntSeed("H194_SEED", 0)) // H194_SEED: the first seed
		for seed := base; seed < base+seeds; seed++ {
			t.Run(fmt.Sprintf("ps=%d/seed=%d", ps, seed), func(t *testing.T) {
				h194Hunt(t, ps, rand.New(rand.NewPCG(uint64(ps), uint64(seed)+194)))
			})
		}
	}
}

func h194Hunt(t *testing.T, ps int, rng *rand.Rand) {
	path := filepath.Join(t.TempDir(), "hunt.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{PageSize: ps, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := h194Model{keys: map[string]map[string][]byte{}, seq: map[string]uint64{}}
	randPath := func() Path {
		p := make(Path, 1+rng.IntN(5))
		for i := range p {
			p[i] = fmt.Appendf(nil, "b%d", rng.IntN(3))
		}
		return p
	}
	randKey := func() []byte {
		var n int
		switch r := rng.IntN(100); {
		case r < 85:
			n = 1 + rng.IntN(12)
		case r < 98:
			n = 100 + rng.IntN(2000)
		default:
			n = 1 + rng.IntN(bolt.MaxKeySize)
		}
		k := make([]byte, n)
		for i := range k {
			k[i] = byte('a' + rng.IntN(4)) // few letters: keys shared and overwritten
		}
		k[0] = 'k' // never a bucket's name
		return k
	}
	big := 0
	randValue := func() []byte {
		var n int
		switch r := rng.IntN(1000); {
		case r < 900:
			n = rng.IntN(200)
		case r < 990:
			n = 4096 + rng.IntN(60000)
		case r < 999:
			n = 1 << 20
		default:
			if big++; big > 2 {
				n = 10
			} else {
				n = 10 << 20
			}
		}
		v := make([]byte, n)
		for i := range min(n, 64) {
			v[i] = byte(rng.Uint32())
		}
		return v
	}
	existing := func(tm h194Model) (Path, []byte) { // a key the model holds, if any
		for p, ks := range tm.keys {
			for k := range ks {
				var pp Path
				for _, s := range strings.Split(p, "/") {
					pp = append(pp, []byte(s))
				}
				return pp, []byte(k)
			}
		}
		return nil, nil
	}
	txs := 120
	for n := range txs {
		drain := (n/15)%2 == 1 // fill, then drain, and again
		ops := 1 + rng.IntN(400)
		if rng.IntN(3) == 0 {
			ops = 1 + rng.IntN(5)
		}
		rollback := rng.IntN(20) == 0
		tm := m.clone()
		err := db.Update(func(tx *bolt.Tx) error {
			v := NewBoltView(tx)
			for op := range ops {
				r := rng.IntN(100)
				var err error
				what := ""
				switch {
				case r < 2:
					p := randPath()
					p = p[:min(len(p), 1+rng.IntN(2))]
					what, err = fmt.Sprintf("DropBucket %q", p), v.DropBucket(p)
					tm.drop(p)
				case r < 6:
					p := randPath()
					var got uint64
					got, err = v.NextSeq(p)
					what = fmt.Sprintf("NextSeq %q", p)
					tm.made(p)
					s := string(bytes.Join(p, []byte("/")))
					if tm.seq[s]++; err == nil && got != tm.seq[s] {
						return fmt.Errorf("NextSeq %q = %d, want %d", p, got, tm.seq[s])
					}
				case r < 8:
					p, x := randPath(), rng.Uint64N(1000)
					what, err = fmt.Sprintf("RaiseSeq %q", p), v.RaiseSeq(p, x)
					tm.made(p)
					s := string(bytes.Join(p, []byte("/")))
					tm.seq[s] = max(tm.seq[s], x)
				case (drain && r < 75) || (!drain && r < 25):
					p, k := randPath(), randKey()
					if rng.IntN(4) != 0 {
						if ep, ek := existing(tm); ep != nil {
							p, k = ep, ek
						}
					}
					what, err = fmt.Sprintf("Del %q %.20q", p, k), v.Del(p, k)
					if ks := tm.keys[string(bytes.Join(p, []byte("/")))]; ks != nil {
						delete(ks, string(k))
					}
				default:
					p, k, val := randPath(), randKey(), randValue()
					what, err = fmt.Sprintf("Put %q %.20q (%d bytes)", p, k, len(val)), v.Put(p, k, val)
					tm.made(p)
					tm.keys[string(bytes.Join(p, []byte("/")))][string(k)] = val
				}
				if err != nil {
					return fmt.Errorf("op %d: %s: %w", op, what, err)
				}
			}
			if rollback {
				return errH194Rollback
			}
			return nil
		})
		switch {
		case rollback && errors.Is(err, errH194Rollback):
		case err != nil:
			t.Fatalf("transaction %d (%d ops, drain %v): %v", n, ops, drain, err)
		default:
			m = tm
		}
		if n%20 == 19 || n == txs-1 {
			h194Compare(t, db, m)
		}
	}
	if err := db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() { // drained: its goroutine reads the map until done
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}); err != nil {
		t.Fatalf("bbolt's check: %v", err)
	}
}

var errH194Rollback = errors.New("rolled back")

// h194Compare checks the file holds exactly the model.
func h194Compare(t *testing.T, db *bolt.DB, m h194Model) {
	t.Helper()
	got := map[string]map[string][]byte{}
	seqs := map[string]uint64{}
	var walk func(prefix string, b *bolt.Bucket) error
	walk = func(prefix string, b *bolt.Bucket) error {
		got[prefix] = map[string][]byte{}
		if s := b.Sequence(); s != 0 {
			seqs[prefix] = s
		}
		return b.ForEach(func(k, v []byte) error {
			if v == nil {
				return walk(prefix+"/"+string(k), b.Bucket(k))
			}
			got[prefix][string(k)] = bytes.Clone(v)
			return nil
		})
	}
	if err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(string(name), b) })
	}); err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(m.seq)
	maps.DeleteFunc(want, func(_ string, s uint64) bool { return s == 0 })
	if !maps.Equal(seqs, want) {
		t.Fatalf("sequences %v, want %v", seqs, want)
	}
	if len(got) != len(m.keys) {
		t.Fatalf("%d buckets, want %d", len(got), len(m.keys))
	}
	for p, ks := range m.keys {
		if !maps.EqualFunc(got[p], ks, bytes.Equal) {
			t.Fatalf("bucket %s: %d keys, want %d (or values differ)", p, len(got[p]), len(ks))
		}
	}
}
