package engine

import (
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A reader's overlay view caches, by path, whether each bucket it asked
// about exists (View.states). A walk over every thread while the overlay
// holds a bucket marker (a thread created or deleted and not yet applied)
// asked about each thread's buckets once and kept every answer until the
// snapshot changed: its size grew with the threads of the file. The cache
// is bounded, and its answers stay right after it starts over.
func TestReaderViewStatesAreBounded(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "s.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	threads := []byte("threads")
	name := func(i int) []byte { return fmt.Appendf(nil, "t%05d", i) }
	const n = 3 * maxViewStates
	if err := db.Update(func(tx *bolt.Tx) error {
		top, err := tx.CreateBucket(threads)
		if err != nil {
			return err
		}
		for i := 0; i < n; i += 2 { // the even threads exist in bbolt
			if _, err := top.CreateBucket(name(i)); err != nil {
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
	// A new thread in the overlay: a bucket marker, so that the view
	// asks and caches.
	if err := ow.Put(Path{threads, []byte("new"), []byte("cp")}, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	v := NewView(tree.Frozen(), NewBoltView(tx))
	for round := range 2 {
		for i := range n {
			if got, want := v.Exists(Path{threads, name(i)}), i%2 == 0; got != want {
				t.Fatalf("round %d: thread %s exists %v, want %v", round, name(i), got, want)
			}
			if len(v.states) > maxViewStates {
				t.Fatalf("round %d: after %d threads the view caches %d bucket states, want at most %d", round, i+1, len(v.states), maxViewStates)
			}
		}
	}
	if !v.Exists(Path{threads, []byte("new"), []byte("cp")}) {
		t.Error("the overlay's new bucket does not exist in the view")
	}
}
