package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestViewScanStopsAndReturnsCallbackErrors: a merged scan (overlay
// entries between bbolt's) ends at the first callback error, wherever the
// key comes from, returns it, and turns ErrStop into nil; Buckets alike.
func TestViewScanStopsAndReturnsCallbackErrors(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "v.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := Path{[]byte("b")}
	// bbolt holds k0 k2 k4 and buckets n0 n2; the overlay adds k1 k3 and n1.
	if err := db.Update(func(tx *bolt.Tx) error {
		w := NewBoltView(tx)
		for _, k := range []string{"k0", "k2", "k4"} {
			if err := w.Put(p, []byte(k), []byte("v")); err != nil {
				return err
			}
		}
		for _, n := range []string{"n0", "n2"} {
			if err := w.Put(append(Path{}, p[0], []byte(n)), []byte("x"), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	tree := NewTree()
	ow := NewTreeWriter(tree, NewBoltView(tx), 1)
	for _, k := range []string{"k1", "k3"} {
		if err := ow.Put(p, []byte(k), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := ow.Put(append(Path{}, p[0], []byte("n1")), []byte("x"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	v := NewView(tree.Frozen(), NewBoltView(tx))
	boom := errors.New("boom")
	for _, reverse := range []bool{false, true} {
		for stopAt := range 5 {
			for _, want := range []error{boom, ErrStop} {
				var seen []string
				err := v.Scan(p, []byte("k"), nil, reverse, func(k, _ []byte) error {
					seen = append(seen, string(k))
					if len(seen) == stopAt+1 {
						return want
					}
					return nil
				})
				name := fmt.Sprintf("reverse %v, stop at %d with %v", reverse, stopAt, want)
				if errors.Is(want, ErrStop) && err != nil || !errors.Is(want, ErrStop) && !errors.Is(err, want) {
					t.Errorf("%s: Scan = %v", name, err)
				}
				if len(seen) != stopAt+1 {
					t.Errorf("%s: saw %v, want %d keys", name, seen, stopAt+1)
				}
			}
		}
	}
	var all []string
	if err := v.Buckets(p, nil, func(n []byte) error { all = append(all, string(n)); return nil }); err != nil || fmt.Sprint(all) != "[n0 n1 n2]" {
		t.Fatalf("Buckets = %v, %v; want [n0 n1 n2]", all, err)
	}
	for stopAt := range 3 {
		var seen []string
		err := v.Buckets(p, nil, func(n []byte) error {
			seen = append(seen, string(n))
			if len(seen) == stopAt+1 {
				return boom
			}
			return nil
		})
		if !errors.Is(err, boom) || len(seen) != stopAt+1 {
			t.Errorf("Buckets stopping at %d: %v after %v", stopAt, err, seen)
		}
	}
}

// A Get or Has through the commit loop's chain of views hands the same
// composite key down (get, has): the top view's bucket-state walk must not
// overwrite it on the way (a tree with a bucket entry walks, reusing buf).
func TestViewChainKeepsCompositeKey(t *testing.T) {
	below := NewTree()
	ow := NewTreeWriter(below, below.LoopView(noBase{}), 1)
	if err := ow.Put(Path{[]byte("b"), []byte("sub")}, []byte("key"), []byte("value")); err != nil {
		t.Fatal(err)
	}
	top := NewTree()
	tw := NewTreeWriter(top, below.LoopView(noBase{}), 2)
	// A bucket created in the top tree: its views walk bucket states.
	if err := tw.Put(Path{[]byte("c")}, []byte("x"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	if top.markers == 0 {
		t.Fatal("the top tree holds no bucket entry: the test needs one")
	}
	for _, v := range []*View{top.LoopView(below.LoopView(noBase{})), &tw.View} {
		if got := v.Get(Path{[]byte("b"), []byte("sub")}, []byte("key")); string(got) != "value" {
			t.Fatalf("Get through the chain = %q, want %q", got, "value")
		}
		if !v.Has(Path{[]byte("b"), []byte("sub")}, []byte("key")) {
			t.Fatal("Has through the chain = false")
		}
	}
}
