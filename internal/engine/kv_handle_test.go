package engine

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A Bucket taken from a read view reads what the view reads by path: Get,
// Has and Scan (forward, reverse, bounded, stopped), a Get of the same
// bucket inside its own Scan (the shared cursor is busy then), a missing
// bucket (empty), and after the view opened so many other buckets that
// its entries moved to a larger array and were indexed (a handle that
// kept a pointer to its entry would read a stale copy).
func TestBucketReadsAsThePath(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "h.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const nb = 40 // buckets: past openBuf and linearBuckets
	name := func(i int) []byte { return fmt.Appendf(nil, "b%02d", i) }
	key := func(i int) []byte { return fmt.Appendf(nil, "k%04d", i) }
	err = db.Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucket([]byte("top"))
		if err != nil {
			return err
		}
		for b := range nb {
			bk, err := top.CreateBucket(name(b))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := bk.Put(key(2*i+1), fmt.Appendf(nil, "%d/%d", b, i)); err != nil {
					return err
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
	path := func(b int) Path { return Path{[]byte("top"), name(b)} }

	first, ok := v.Bucket(path(0))
	if !ok {
		t.Fatal("a read-only view gave no Bucket")
	}
	missing, ok := v.Bucket(Path{[]byte("top"), []byte("none")})
	if !ok {
		t.Fatal("no Bucket for a missing bucket")
	}
	handles := []Bucket{first}
	for b := 1; b < nb; b++ { // opening them moves v.open and indexes it
		h, ok := v.Bucket(path(b))
		if !ok {
			t.Fatal("no Bucket")
		}
		handles = append(handles, h)
	}
	if v.index == nil || cap(v.open) == len(v.openBuf) {
		t.Fatalf("the view's entries did not move (cap %d, index %v): the test tests nothing", cap(v.open), v.index != nil)
	}
	collect := func(scan func(fn func(k, val []byte) error) error, stopAt int) []string {
		var out []string
		err := scan(func(k, val []byte) error {
			out = append(out, string(k)+"="+string(val))
			if len(out) == stopAt {
				return ErrStop
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for b, h := range handles {
		p := path(b)
		for i := range 610 {
			k := key(i)
			if got, want := h.Get(k), v.Get(p, k); !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("bucket %d: Get(%s) = %q, by path %q", b, k, got, want)
			}
			if got, want := h.Has(k), v.Has(p, k); got != want {
				t.Fatalf("bucket %d: Has(%s) = %v, by path %v", b, k, got, want)
			}
		}
		for _, c := range []struct {
			prefix, start []byte
			reverse       bool
			stop          int
		}{
			{[]byte("k"), nil, false, 0}, {[]byte("k"), nil, true, 0}, {[]byte("k01"), nil, true, 0},
			{[]byte("k"), key(100), true, 0}, {[]byte("k"), key(100), false, 7}, {nil, nil, true, 3},
		} {
			got := collect(func(fn func(k, val []byte) error) error { return h.Scan(c.prefix, c.start, c.reverse, fn) }, c.stop)
			want := collect(func(fn func(k, val []byte) error) error { return v.Scan(p, c.prefix, c.start, c.reverse, fn) }, c.stop)
			if fmt.Sprint(got) != fmt.Sprint(want) || len(got) == 0 {
				t.Fatalf("bucket %d: Scan(%q, %q, %v) = %d keys, by path %d", b, c.prefix, c.start, c.reverse, len(got), len(want))
			}
		}
		// A Get of the bucket inside its own walk takes a cursor of its
		// own: the walk goes on where it was.
		n := 0
		err := h.Scan([]byte("k"), nil, false, func(k, val []byte) error {
			if got := h.Get(key(599)); string(got) != fmt.Sprintf("%d/299", b) {
				t.Fatalf("bucket %d: Get inside a Scan = %q", b, got)
			}
			if !h.Has(key(1)) {
				t.Fatalf("bucket %d: Has inside a Scan is false", b)
			}
			if want := fmt.Sprintf("%d/%d", b, n); string(val) != want {
				t.Fatalf("bucket %d: the walk read %q at its step %d, want %q", b, val, n, want)
			}
			n++
			return nil
		})
		if err != nil || n != 300 {
			t.Fatalf("bucket %d: nested walk: %v after %d keys", b, err, n)
		}
	}
	if missing.Get(key(1)) != nil || missing.Has(key(1)) {
		t.Error("a missing bucket's handle read a key")
	}
	if err := missing.Scan(nil, nil, false, func(_, _ []byte) error { return fmt.Errorf("called") }); err != nil {
		t.Errorf("a missing bucket's handle scanned: %v", err)
	}
	wtx, err := db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	defer wtx.Rollback()
	if _, ok := NewBoltView(wtx).Bucket(path(0)); ok {
		t.Error("a write transaction's view gave a Bucket (its buckets change under it)")
	}
}

// Child finds the entry Bucket(path) finds, for more children than an
// entry has slots (names sharing a slot, a name in another slot, a slot
// out of range), for names that are prefixes and suffixes of each other
// (told by their lengths), for a missing child and a missing parent,
// after the entries moved (other buckets opened) and after a trim, which
// renumbers them.
func TestChildIsTheBucketOfItsPath(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Names j and j+maxKids share a slot, the one a suffix of the other.
	names := []string{"a", "ab", "b", "c", "cc", "d", "ba", "bab", "cb", "ac", "ccc", "dd"}
	err = db.Update(func(tx *bolt.Tx) error {
		for p := range 30 {
			par, err := tx.CreateBucketIfNotExists([]byte("top"))
			if err == nil {
				par, err = par.CreateBucket(fmt.Appendf(nil, "p%02d", p))
			}
			if err != nil {
				return err
			}
			for _, n := range names {
				bk, err := par.CreateBucket([]byte(n))
				if err != nil {
					return err
				}
				if err := bk.Put([]byte("k"), fmt.Appendf(nil, "%d/%s", p, n)); err != nil {
					return err
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
	check := func(round int) {
		for p := range 31 { // p30 is missing
			pp := Path{[]byte("top"), fmt.Appendf(nil, "p%02d", p)}
			par, ok := v.Bucket(pp)
			if !ok {
				t.Fatal("no Bucket")
			}
			for j, n := range append(names, "none", "") {
				cp := append(pp[:2:2], []byte(n))
				c := par.Child(cp, (j+min(round, 1))%maxKids) // slots shared by names, moved, the same across the trim
				if j == 2 {
					c = par.Child(cp, maxKids) // no such slot: by path
				}
				byPath, _ := v.Bucket(cp)
				if c.i != byPath.i {
					t.Fatalf("round %d: Child(%s) is entry %d, Bucket(path) %d", round, cp, c.i, byPath.i)
				}
				got, want := c.Get([]byte("k")), fmt.Sprintf("%d/%s", p, n)
				if p == 30 || n == "none" || n == "" {
					want = ""
				}
				if string(got) != want {
					t.Fatalf("round %d: Child(%s).Get = %q, want %q", round, cp, got, want)
				}
			}
		}
	}
	for round := range 3 {
		check(round)
		if round == 1 {
			v.trim(v.cacheBytes() / 2) // renumbers the entries kept
		}
	}
	if v.index == nil {
		t.Fatal("the view's entries were never indexed: the test tests less than it says")
	}
}
