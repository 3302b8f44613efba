package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestGroupsInARowReadEachOther: groups built one after another by the
// commit loop read what the groups before them wrote, wherever it is: a
// NoSync group that finished at once (in shared, never in flight), a Sync
// group that waited for its fsync. Each group writes more entries and log paths than one of
// the writer's slabs holds, and holds an op that fails after a change
// (taken back through the undo log every group reuses). Then a Sync group
// and a NoSync group behind it fail with their fsync, mid-stream: none of
// their writes shows, before or after a reopen, and the groups before them
// all do.
func TestGroupsInARowReadEachOther(t *testing.T) {
	t.Parallel()
	cause := errors.New("disk on fire")
	var armed atomic.Bool
	path := filepath.Join(t.TempDir(), "g.db")
	open := func() *Engine {
		e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
			Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
			Hooks: Hooks{SyncLog: func(f *os.File) error {
				// Group 5's fsync fails, not the one before it that clears
				// the earlier pass's first record (the Solo before it
				// applied everything: the log rewound).
				if armed.Load() && !clearingHead(f) {
					return cause
				}
				return Fdatasync(f)
			}}})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	const keys = 3*itemSlab + 5 // per group, over two buckets: slabs run out
	bucket := func(i int) Path { return Path{[]byte("x"), fmt.Appendf(nil, "b%d", i%2)} }
	key := func(g, i int) []byte { return fmt.Appendf(nil, "g%d-%03d", g, i) }
	val := func(g, i int) []byte { return fmt.Appendf(nil, "v%d-%d", g, i) }
	errHalf := errors.New("failure after a change")

	// group g: one op writes keys entries, each checked against what
	// group g-1 wrote (read through the overlay levels); one op writes and
	// then fails; one more writes after it.
	group := func(g int, noSync bool) []*Op {
		mk := func(apply func(w Writer) error) *Op {
			return &Op{Ctx: context.Background(), Apply: apply, Done: make(chan error, 1), NoSync: noSync}
		}
		return []*Op{
			mk(func(w Writer) error {
				for i := range keys {
					if g > 1 {
						if got := w.Get(bucket(i), key(g-1, i)); !bytes.Equal(got, val(g-1, i)) {
							return fmt.Errorf("group %d reads %s of group %d as %q", g, key(g-1, i), g-1, got)
						}
						if w.Has(bucket(i), fmt.Appendf(nil, "half%d", g-1)) {
							return fmt.Errorf("group %d reads the taken-back write of group %d", g, g-1)
						}
					}
					if err := w.Put(bucket(i), key(g, i), val(g, i)); err != nil {
						return err
					}
				}
				return nil
			}),
			mk(func(w Writer) error {
				for i := range keys {
					if err := w.Put(bucket(i), fmt.Appendf(nil, "half%d", g), []byte("no")); err != nil {
						return err
					}
				}
				return errHalf
			}),
			mk(func(w Writer) error { return w.Put(testBucket, fmt.Appendf(nil, "last%d", g), []byte("v")) }),
		}
	}
	wait := func(g int, ops []*Op, want error) {
		t.Helper()
		for i, op := range ops {
			err := <-op.Done
			switch {
			case i == 1: // it failed alone, before its group did
				if !errors.Is(err, errHalf) {
					t.Errorf("group %d: the failing op: %v, want %v", g, err, errHalf)
				}
			case want == nil && err != nil:
				t.Errorf("group %d op %d: %v", g, i, err)
			case want != nil && !errors.Is(err, want):
				t.Errorf("group %d op %d: %v, want %v", g, i, err, want)
			}
		}
	}

	// Groups 1 to 4 in one go inside the commit loop: 1 (NoSync, nothing
	// ahead) finishes at once; 2 (Sync) is logged once 1 is durable and
	// waits for its fsync; 3 (NoSync) is logged once that fsync ended (no
	// record is written while one is in flight: trySeal) and finishes at
	// once; 4 (Sync) reads 3 and waits for its fsync.
	gs := [][]*Op{group(1, true), group(2, false), group(3, true), group(4, false)}
	if err := do(e, &Op{Solo: func() error {
		e.commitGroup(gs[0])
		if len(e.wal.flights) != 0 {
			return errors.New("group 1 did not finish at once")
		}
		for _, g := range gs[1:] {
			e.commitGroup(g)
		}
		if len(e.wal.flights) != 1 {
			return fmt.Errorf("%d groups in flight, want 4 alone", len(e.wal.flights))
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	for i, g := range gs {
		wait(i+1, g, nil)
	}

	// Groups 5 (Sync) and 6 (NoSync, behind it, reading it: built while
	// 5's fsync is in flight, logged only once it ended) fail with group
	// 5's fsync.
	armed.Store(true)
	g5, g6 := group(5, false), group(6, true)
	if err := do(e, &Op{Solo: func() error {
		e.commitGroup(g5)
		e.commitGroup(g6)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	wait(5, g5, ErrFailed)
	wait(6, g6, ErrFailed)

	check := func(e *Engine, when string) {
		t.Helper()
		err := e.View(context.Background(), func(r Reader) error {
			for g := 1; g <= 6; g++ {
				for i := range keys {
					got := r.Get(bucket(i), key(g, i))
					if g <= 4 && !bytes.Equal(got, val(g, i)) {
						return fmt.Errorf("acknowledged %s reads %q", key(g, i), got)
					}
					if g > 4 && got != nil {
						return fmt.Errorf("%s of the failed group %d is readable", key(g, i), g)
					}
				}
				if r.Has(bucket(0), fmt.Appendf(nil, "half%d", g)) || r.Has(bucket(1), fmt.Appendf(nil, "half%d", g)) {
					return fmt.Errorf("the taken-back write of group %d is readable", g)
				}
				if has := r.Has(testBucket, fmt.Appendf(nil, "last%d", g)); has != (g <= 4) {
					return fmt.Errorf("group %d's last write readable: %v", g, has)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	check(e, "after the failure")
	_ = e.Close()
	armed.Store(false)
	e = open()
	defer e.Close()
	check(e, "after reopen")
}

// TestForgetDropsTheStatesBelowABucket: a change of bucket a's entry drops
// the cached states of a and of the buckets below it, and keeps those of
// other buckets, "ab" included (its name starts with a's, its path does
// not); a cache past forgetScan is cleared whole.
func TestForgetDropsTheStatesBelowABucket(t *testing.T) {
	t.Parallel()
	tr := NewTree()
	key := func(p ...string) string {
		var path Path
		for _, name := range p {
			path = append(path, []byte(name))
		}
		return string(appendPath(nil, path))
	}
	for _, k := range []string{key("a"), key("a", "b"), key("a", "b", "c"), key("ab"), key("c", "a")} {
		tr.states[k] = ovState{exists: true}
	}
	tr.forget([]byte(key("a")))
	for k, want := range map[string]bool{key("a"): false, key("a", "b"): false, key("a", "b", "c"): false, key("ab"): true, key("c", "a"): true} {
		if _, ok := tr.states[k]; ok != want {
			t.Errorf("state of %q kept: %v, want %v", k, ok, want)
		}
	}
	for i := range forgetScan + 1 {
		tr.states[key(fmt.Sprint("t", i))] = ovState{exists: true}
	}
	n := len(tr.states)
	tr.forget([]byte(key("zz")))
	if len(tr.states) != 0 {
		t.Errorf("a cache of %d states (past forgetScan) kept %d", n, len(tr.states))
	}
}
