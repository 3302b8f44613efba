package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// With every outermost callback forgetting what it opened (walkBytes 1),
// reads still find the right bucket when walks nest (a Scan inside a
// Buckets inside a Scan), when callbacks open the same buckets in another
// order than the callback before (so that each slot a callback's bucket
// left is taken by another bucket), when handles and a parent's
// remembered children (Child slots) taken in one callback are used in
// later ones and after the walk, and when a walk ends early (ErrStop) or
// with its callback's error.
func TestNestedWalksForgettingReadTheRightBuckets(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "n.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 40
	subs := []string{"cp", "md", "wr", "bl", "ls", "ids"}
	name := func(i int) []byte { return fmt.Appendf(nil, "t%03d", i) }
	want := func(th []byte, sub string) string { return sub + ":" + string(th) }
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
			for _, sub := range subs {
				b, err := th.CreateBucket([]byte(sub))
				if err != nil {
					return err
				}
				for k := range 3 { // several keys: a scan in it calls back more than once
					if err := b.Put(fmt.Appendf(nil, "k%d", k), []byte(want(name(i), sub))); err != nil {
						return err
					}
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
	errMine := errors.New("the callback's own error")
	if err := db.View(func(tx *bolt.Tx) error {
		v := NewBoltView(tx)
		v.walkBytes = 1
		type kept struct {
			th     []byte
			parent Bucket
			subs   [6]Bucket
		}
		var handles []kept
		check := func(when string) {
			t.Helper()
			for _, h := range handles {
				for slot, sub := range subs {
					if got := string(h.subs[slot].Get([]byte("k1"))); got != want(h.th, sub) {
						t.Fatalf("%s: a handle of %s/%s reads %q, want %q", when, h.th, sub, got, want(h.th, sub))
					}
					if got := string(h.parent.Child(path(h.th, sub), slot).Get([]byte("k2"))); got != want(h.th, sub) {
						t.Fatalf("%s: the child %s/%s of a kept parent reads %q, want %q", when, h.th, sub, got, want(h.th, sub))
					}
				}
			}
		}
		// Every thread's bucket opened before the walk: their entries
		// stay, and so do their remembered children's slots, which point
		// at entries each callback forgets and the next one fills with
		// its own thread's buckets of the same names.
		tops := make([]Bucket, n)
		for i := range n {
			tops[i], _ = v.Bucket(path(name(i), ""))
		}
		checkTops := func(when string, i int) {
			t.Helper()
			for _, j := range []int{0, max(i-1, 0), i} {
				for slot, sub := range subs {
					if got := string(tops[j].Child(path(name(j), sub), slot).Get([]byte("k0"))); got != want(name(j), sub) {
						t.Fatalf("%s: the child %s of thread %s, opened before the walk, reads %q, want %q", when, sub, name(j), got, want(name(j), sub))
					}
				}
			}
		}
		calls := 0
		// The outer walk: the index, one thread a callback.
		err := v.Scan(Path{[]byte("index")}, nil, nil, false, func(th, _ []byte) error {
			calls++
			i := calls - 1
			parent, _ := v.Bucket(path(th, ""))
			var h kept
			h.th, h.parent = th, parent
			// Each callback opens the thread's buckets in another order:
			// rotated by the thread's number, reversed for odd ones.
			for j := range subs {
				slot := (j + i) % len(subs)
				if i%2 == 1 {
					slot = len(subs) - 1 - slot
				}
				sub := subs[slot]
				var b Bucket
				if j%2 == 0 {
					b = parent.Child(path(th, sub), slot)
				} else {
					b, _ = v.Bucket(path(th, sub))
				}
				h.subs[slot] = b
			}
			// Nested: a walk of the thread's buckets, and in it a scan of
			// each by handle and one by path.
			seen := 0
			if err := v.Buckets(path(th, ""), nil, func(sub []byte) error {
				slot := -1
				for s, name := range subs {
					if name == string(sub) {
						slot = s
					}
				}
				return h.subs[slot].Scan(nil, nil, i%3 == 0, func(k, val []byte) error {
					if string(val) != want(th, string(sub)) {
						t.Errorf("thread %s: a nested scan of %s reads %q, want %q", th, sub, val, want(th, string(sub)))
					}
					return v.Scan(path(th, string(sub)), nil, k, false, func(_, val2 []byte) error {
						seen++
						if string(val2) != want(th, string(sub)) {
							t.Errorf("thread %s: a scan nested twice in %s reads %q", th, sub, val2)
						}
						return ErrStop
					})
				})
			}); err != nil {
				return err
			}
			if seen != 3*len(subs) {
				t.Errorf("thread %s: the nested scans called back %d times, want %d", th, seen, 3*len(subs))
			}
			handles = append(handles, h)
			checkTops(fmt.Sprintf("in the callback of %s", th), i)
			check(fmt.Sprintf("in the callback of %s", th))
			// Walks that end early: by ErrStop, and by an error of the
			// callback's own, in a walk nested in this one.
			if i%5 == 3 {
				if err := v.Buckets(path(th, ""), nil, func([]byte) error { return ErrStop }); err != nil {
					return err
				}
				if err := v.Scan(path(th, "wr"), nil, nil, false, func(_, _ []byte) error { return errMine }); !errors.Is(err, errMine) {
					t.Errorf("a nested scan whose callback failed returned %v, want %v", err, errMine)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if calls != n {
			t.Fatalf("the walk called back %d times, want %d", calls, n)
		}
		check("after the walk")
		checkTops("after the walk", n-1)
		// A walk that ends with its callback's error, then reads again.
		stopAt := 7
		err = v.Buckets(Path{threads}, nil, func(th []byte) error {
			for _, sub := range subs {
				if got := string(v.Get(path(th, sub), []byte("k0"))); got != want(th, sub) {
					t.Errorf("%s/%s reads %q, want %q", th, sub, got, want(th, sub))
				}
			}
			if stopAt--; stopAt == 0 {
				return errMine
			}
			return nil
		})
		if !errors.Is(err, errMine) {
			t.Errorf("a walk whose callback failed returned %v, want %v", err, errMine)
		}
		if v.depth != 0 {
			t.Errorf("after the walks the view counts %d walks under way", v.depth)
		}
		check("after a walk that failed")
		for i := range v.open {
			if v.open[i].busy {
				t.Errorf("after the walks bucket %d is still marked busy", i)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
