package engine

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestReplayAppliesGroupsAndMarksTheLast: replayed groups land in bbolt
// with the mark of the last one in the same commit; an unknown change is
// ErrCorrupt naming its group, and nothing of the transaction stays.
func TestReplayAppliesGroupsAndMarksTheLast(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "r.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	p := Path{[]byte("a"), []byte("b")}
	groups := []*Group{
		{Gen: 4, Muts: []Mutation{{Op: MutPut, Path: p, Key: []byte("k"), Val: []byte("1")}, {Op: MutSeq, Path: p, Seq: 9}}},
		{Gen: 5, Muts: []Mutation{{Op: MutPut, Path: p, Key: []byte("j"), Val: []byte("2")}, {Op: MutDel, Path: p, Key: []byte("k")}}},
	}
	if err := db.Update(func(tx *bolt.Tx) error { return mark.Replay(NewBoltView(tx), groups) }); err != nil {
		t.Fatal(err)
	}
	bad := []*Group{{Gen: 6, Muts: []Mutation{{Op: MutPut, Path: p, Key: []byte("x"), Val: []byte("3")}, {Op: 99, Path: p}}}}
	err = db.Update(func(tx *bolt.Tx) error { return mark.Replay(NewBoltView(tx), bad) })
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "group 6") {
		t.Fatalf("replay of an unknown change = %v, want ErrCorrupt naming group 6", err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		r := NewBoltView(tx)
		if got := mark.Applied(r); got != 5 {
			t.Errorf("applied = %d, want 5", got)
		}
		if r.Get(p, []byte("k")) != nil || string(r.Get(p, []byte("j"))) != "2" || r.Sequence(p) != 9 {
			t.Errorf("after replay: k=%q j=%q seq=%d, want k gone, j=2, seq 9", r.Get(p, []byte("k")), r.Get(p, []byte("j")), r.Sequence(p))
		}
		if r.Get(p, []byte("x")) != nil {
			t.Error("the failed replay left its first change")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
