package engine

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A read that recovers, itself, a panic raised in a walk's callback (the
// store's Verify does, reading a damaged file: verifyAll) returns
// normally, and its pooled read goes back to the pool. The walk never
// left (leaveWalk), so the view still counted it under way (depth): every
// later read of that pooled read walked at depth 1 or more, and none of
// its walks forgot what its callbacks opened, however many threads.
func TestPooledReadWalksForgetAfterAReadRecoveredAPanicInAWalk(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	e, err := Open(path, Options{
		Bolt:     bolt.Options{Timeout: time.Minute},
		LogPath:  path + "-wal",
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
		// No background apply, which would end the pooled read between
		// the two reads (Quiesce); every callback forgets.
		Hooks: Hooks{HoldApplier: true, WalkBytes: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	threads := []byte("threads")
	cp := []byte("cp")
	for i := range 8 {
		p := Path{threads, fmt.Appendf(nil, "t%d", i), cp}
		if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(p, []byte("k"), []byte("v")) }}); err != nil {
			t.Fatal(err)
		}
	}
	applyLog(t, e)
	ctx := context.Background()
	boltView := func(r Reader) *BoltView {
		if v, ok := r.(*View); ok {
			r = v.base
		}
		return r.(*BoltView)
	}
	var first *BoltView
	if err := e.View(ctx, func(r Reader) error {
		first = boltView(r)
		func() {
			defer func() { _ = recover() }()
			_ = r.Buckets(Path{threads}, nil, func([]byte) error { panic("a damaged page") })
		}()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.View(ctx, func(r Reader) error {
		bv := boltView(r)
		if bv != first {
			t.Log("the second read did not reuse the first one's pooled read: nothing to check")
			return nil
		}
		if err := r.Buckets(Path{threads}, nil, func(name []byte) error {
			if got := string(r.Get(Path{threads, name, cp}, []byte("k"))); got != "v" {
				t.Errorf("thread %s reads %q, want %q", name, got, "v")
			}
			return nil
		}); err != nil {
			return err
		}
		kept := openUnder(bv, cp)
		if kept > 0 {
			t.Errorf("after a walk whose every callback forgets, the pooled read keeps %d threads' buckets open, want none", kept)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// openUnder counts the buckets the read bv keeps open whose path ends in
// name (a thread's cp/: one per thread whose buckets a walk kept).
func openUnder(bv *BoltView, name []byte) int {
	n := 0
	for i := range bv.open {
		if e := &bv.open[i]; bytes.HasSuffix(bv.keys[e.start:e.end], name) {
			n++
		}
	}
	return n
}
