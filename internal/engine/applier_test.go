package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"weak"

	bolt "go.etcd.io/bbolt"
)

// TestApplierAppliesAndStopsOnFailure: Apply puts every pending group into
// bbolt in one commit, says so (Applied, Pruned, OnApplied); a failed
// commit fails the store as a bbolt failure and keeps the groups pending,
// and after that nothing more goes into bbolt. Stop may be called twice.
func TestApplierAppliesAndStopsOnFailure(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "a.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var fs FailState
	var mu sync.RWMutex
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	commitErr := error(nil)
	var heard []uint64
	ap := NewApplier(ApplierConfig{FS: &fs, DBMu: &mu, DB: &db, Snaps: NewSnapshots(mark), Mark: mark,
		Commit: func(tx *bolt.Tx) error {
			if commitErr != nil {
				_ = tx.Rollback()
				return commitErr
			}
			return tx.Commit()
		},
		OnApplied: func(groups []*Group) { heard = append(heard, groups[len(groups)-1].Gen) },
	}, 0)
	go ap.Run()
	ap.Stop()
	ap.Stop()
	p := Path{[]byte("b")}
	put := func(gen uint64, k string) *Group {
		return &Group{Gen: gen, Size: 10, Muts: []Mutation{{Op: MutPut, Path: p, Key: []byte(k), Val: []byte("v")}}}
	}
	ap.Add(put(1, "k1"))
	ap.Add(put(2, "k2"))
	if err := ap.Apply(false); err != nil {
		t.Fatal(err)
	}
	if ap.Applied() != 2 || len(heard) != 1 || heard[0] != 2 {
		t.Fatalf("after Apply: applied %d, heard %v; want 2, [2]", ap.Applied(), heard)
	}
	select {
	case <-ap.Pruned():
	default:
		t.Fatal("Apply did not tell the commit loop")
	}
	boom := errors.New("disk full")
	commitErr = boom
	ap.Add(put(3, "k3"))
	if err := ap.Apply(false); !errors.Is(err, ErrFailed) || !errors.Is(err, boom) || !fs.BoltFailed() {
		t.Fatalf("Apply with a failed commit = %v (bolt failed %v), want ErrFailed wrapping the cause", err, fs.BoltFailed())
	}
	commitErr = nil
	if err := ap.Apply(false); !errors.Is(err, ErrFailed) || ap.Applied() != 2 {
		t.Fatalf("Apply after the failure = %v, applied %d; want ErrFailed and 2", err, ap.Applied())
	}
	if err := db.View(func(tx *bolt.Tx) error {
		r := NewBoltView(tx)
		if mark.Applied(r) != 2 || r.Get(p, []byte("k2")) == nil || r.Get(p, []byte("k3")) != nil {
			t.Errorf("bbolt: applied %d, k2 %q, k3 %q; want 2, v, none", mark.Applied(r), r.Get(p, []byte("k2")), r.Get(p, []byte("k3")))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestApplierLetsGoOfAppliedGroups: once bbolt holds a group, the applier
// keeps no reference to it, so the GC can free its mutations (a batch is up
// to applyBytes of them). Reslicing pending alone keeps the applied groups
// in the backing array's head for as long as the array lives: after a load
// and its last apply, that is for good (the R1 benchmark's live heap was
// 7-9 MB instead of about 1).
func TestApplierLetsGoOfAppliedGroups(t *testing.T) {
	t.Parallel()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "a.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var fs FailState
	var mu sync.RWMutex
	mark := Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}
	var during func() // runs in the next commit: an Add beside the apply
	ap := NewApplier(ApplierConfig{FS: &fs, DBMu: &mu, DB: &db, Snaps: NewSnapshots(mark), Mark: mark,
		Commit: func(tx *bolt.Tx) error {
			if f := during; f != nil {
				during = nil
				f()
			}
			return tx.Commit()
		}}, 0)
	p := Path{[]byte("b")}
	var applied []weak.Pointer[Group]
	gen := uint64(0)
	// add adds n groups and returns weak pointers to them: the test keeps
	// no strong one.
	add := func(n int) []weak.Pointer[Group] {
		var ws []weak.Pointer[Group]
		for range n {
			gen++
			g := &Group{Gen: gen, Size: 10, Muts: []Mutation{{Op: MutPut, Path: p, Key: fmt.Appendf(nil, "k%d", gen), Val: make([]byte, 1024)}}}
			ws = append(ws, weak.Make(g))
			ap.Add(g)
		}
		return ws
	}
	// Five groups (the backing array's capacity is then above five), then
	// three more after the first apply (appended after the applied ones'
	// slots, in the same array).
	applied = append(applied, add(5)...)
	if err := ap.Apply(false); err != nil {
		t.Fatal(err)
	}
	applied = append(applied, add(2)...)
	if err := ap.Apply(false); err != nil {
		t.Fatal(err)
	}
	// Groups added while an apply runs, more than the backing array holds:
	// the append moves pending to a new array, whose head then holds the
	// applied groups too.
	applied = append(applied, add(3)...)
	var beside []weak.Pointer[Group]
	during = func() { beside = add(40) }
	if err := ap.Apply(false); err != nil {
		t.Fatal(err)
	}
	applied = append(applied, beside...)
	if err := ap.Apply(false); err != nil {
		t.Fatal(err)
	}
	pendingOne := add(1) // not applied: must stay
	runtime.GC()
	for i, w := range applied {
		if w.Value() != nil {
			t.Errorf("applied group %d is still reachable after a GC", i+1)
		}
	}
	if pendingOne[0].Value() == nil {
		t.Fatal("the pending group was freed")
	}
	if err := ap.Apply(false); err != nil || ap.Applied() != gen {
		t.Fatalf("Apply of the last group = %v, applied %d; want nil, %d", err, ap.Applied(), gen)
	}
}
