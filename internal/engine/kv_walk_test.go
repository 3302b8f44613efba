package engine

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A walk over every thread of a large store (Stats, Verify, GC, Export)
// opens each thread's buckets once, in its own callback. The read-only
// view used to keep every one of them until the read ended: a Stats of
// 100,000 one-checkpoint threads held 289 MB of open buckets (a million
// threads, about 3 GB). The buckets a walk's callback opened are forgotten
// after it once the cache is past its bound, and every read still finds
// the right bucket: a handle taken before the walk or inside a callback
// whose buckets were forgotten, and a parent's remembered child (Child)
// whose entry now holds another bucket.
func TestWalkForgetsWhatItsCallbacksOpened(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "w.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 400
	name := func(i int) []byte { return fmt.Appendf(nil, "t%04d", i) }
	if err := db.Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucket([]byte("threads"))
		if err != nil {
			return err
		}
		idx, err := tx.CreateBucket([]byte("index"))
		if err != nil {
			return err
		}
		for i := range n {
			th, err := top.CreateBucket(name(i))
			if err != nil {
				return err
			}
			for _, sub := range []string{"cp", "md"} {
				b, err := th.CreateBucket([]byte(sub))
				if err != nil {
					return err
				}
				if err := b.Put([]byte("k"), append([]byte(sub+":"), name(i)...)); err != nil {
					return err
				}
			}
			if err := idx.Put(name(i), nil); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	threads := []byte("threads")
	path := func(th []byte, sub string) Path {
		if sub == "" {
			return Path{threads, th}
		}
		return Path{threads, th, []byte(sub)}
	}
	want := func(sub string, th []byte) string { return sub + ":" + string(th) }
	if err := db.View(func(tx *bolt.Tx) error {
		v := NewBoltView(tx)
		v.walkBytes = 16 * bucketCost
		// Opened before the walk: their entries stay; their children are
		// opened inside the walk, and forgotten once the cache is full
		// (by the last threads').
		first, _ := v.Bucket(path(name(0), ""))
		last, _ := v.Bucket(path(name(n-1), ""))
		v.Bucket(path(name(n-2), ""))
		var kept Bucket // a handle taken in a callback, used after it
		read := func(th []byte) {
			h, _ := v.Bucket(path(th, ""))
			if got := string(h.Child(path(th, "cp"), 0).Get([]byte("k"))); got != want("cp", th) {
				t.Errorf("%s cp: %q, want %q", th, got, want("cp", th))
			}
			if got := string(v.Get(path(th, "md"), []byte("k"))); got != want("md", th) {
				t.Errorf("%s md: %q, want %q", th, got, want("md", th))
			}
		}
		if err := v.Buckets(Path{threads}, nil, func(th []byte) error {
			read(th)
			if string(th) == string(name(10)) {
				h, _ := v.Bucket(path(th, ""))
				kept = h.Child(path(th, "cp"), 0)
			}
			return nil
		}); err != nil {
			return err
		}
		if got := v.cacheBytes(); got > v.walkBytes+8*bucketCost {
			t.Errorf("after a walk over %d threads the view keeps %d bytes of open buckets (%d), want at most %d", n, got, len(v.open), v.walkBytes+8*bucketCost)
		}
		// A walk by Scan (the index) that opens a thread's buckets in
		// each callback.
		if err := v.Scan(Path{[]byte("index")}, nil, nil, false, func(k, _ []byte) error {
			read(k)
			return nil
		}); err != nil {
			return err
		}
		if got := v.cacheBytes(); got > v.walkBytes+8*bucketCost {
			t.Errorf("after a scan over %d threads the view keeps %d bytes of open buckets, want at most %d", n, got, v.walkBytes+8*bucketCost)
		}
		// Other threads' buckets now sit where the forgotten ones were:
		// the next thread's cp where the last one's was (its parent
		// remembers that place, Child).
		for i := n - 2; i >= n-5; i-- {
			read(name(i))
		}
		if got := string(last.Child(path(name(n-1), "cp"), 0).Get([]byte("k"))); got != want("cp", name(n-1)) {
			t.Errorf("a child of a bucket opened before the walk, forgotten in it, reads %q, want %q", got, want("cp", name(n-1)))
		}
		if got := string(kept.Get([]byte("k"))); got != want("cp", name(10)) {
			t.Errorf("a handle taken inside the walk reads %q, want %q", got, want("cp", name(10)))
		}
		if got := string(first.Child(path(name(0), "cp"), 0).Get([]byte("k"))); got != want("cp", name(0)) {
			t.Errorf("a child of a bucket opened before the walk reads %q, want %q", got, want("cp", name(0)))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
