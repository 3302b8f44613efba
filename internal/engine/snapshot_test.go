package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// noBase is a base that holds nothing (bbolt before any write).
type noBase struct{}

func (noBase) Get(Path, []byte) []byte                                        { return nil }
func (noBase) Scan(Path, []byte, []byte, bool, func(k, v []byte) error) error { return nil }
func (noBase) Has(Path, []byte) bool                                          { return false }
func (noBase) Exists(Path) bool                                               { return false }
func (noBase) Sequence(Path) uint64                                           { return 0 }
func (noBase) Buckets(Path, []byte, func(name []byte) error) error            { return nil }

// mergeOne merges a group of one key into shared between a Change and a
// Publish, as the commit loop does.
func mergeOne(t testing.TB, ss *Snapshots, shared *Tree, gen uint64, key string) {
	ow := NewTreeWriter(NewTree(), shared.LoopView(noBase{}), gen)
	if err := ow.Put(Path{[]byte("b")}, []byte(key), []byte(key)); err != nil {
		t.Fatal(err)
	}
	locked := ss.Change(false)
	MergeOverlay(shared, ow.Scratch())
	ss.Publish(shared, gen, 0, locked)
}

// overlayHas reads key through a reader's view of sn's tree alone.
func overlayHas(sn *Snap, key string) bool {
	it, ok := sn.tree.Get(&ovItem{key: ovKeyOf(nil, Path{[]byte("b")}, []byte(key))})
	return ok && it.kind == ovValue
}

// A snapshot is frozen when a reader first loads it, not when the commit
// loop publishes: a reader sees every published group, a snapshot once
// loaded never changes, and changes no reader came between do not copy
// the nodes they write (the point of freezing late).
func TestSnapshotsFreezeOnLoad(t *testing.T) {
	ss := NewSnapshots(Mark{})
	shared := NewTree()
	ss.Publish(shared, 0, 0, false)
	// A tree of a few levels, so that a copy-on-write copies some nodes.
	for i := range 2000 {
		mergeOne(t, ss, shared, uint64(i+1), fmt.Sprintf("k%05d", i))
	}
	gen := uint64(2000)

	first := ss.load()
	if first.gen != gen || !overlayHas(first, "k01999") {
		t.Fatalf("loaded gen %d, want %d with the last key", first.gen, gen)
	}
	mergeOne(t, ss, shared, gen+1, "new")
	if overlayHas(first, "new") {
		t.Fatal("a loaded snapshot changed with a later merge")
	}
	if got := ss.load(); got.gen != gen+1 || !overlayHas(got, "new") {
		t.Fatalf("a load after a publish sees gen %d, want %d with its key", got.gen, gen+1)
	}
	if got := ss.load(); got != ss.load() {
		t.Fatal("two loads with no publish between froze twice")
	}

	// Allocations of a one-key merge: with a reader between every two
	// merges (each merge copies the nodes on its path) and without one.
	n := gen + 1
	withReader := testing.AllocsPerRun(200, func() {
		n++
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], n)
		mergeOne(t, ss, shared, n, "r"+string(k[:]))
		ss.load()
	})
	alone := testing.AllocsPerRun(200, func() {
		n++
		var k [8]byte
		binary.BigEndian.PutUint64(k[:], n)
		mergeOne(t, ss, shared, n, "a"+string(k[:]))
	})
	if alone >= withReader-1 {
		t.Fatalf("a merge with no reader since the last one allocates %.1f times, with a reader %.1f: publishing froze (copy-on-write) without a reader", alone, withReader)
	}
	if testing.Verbose() {
		t.Logf("allocations per one-key merge: %.1f with a reader between merges, %.1f without", withReader, alone)
	}
}

// A reader that comes while the commit loop changes the tree under the
// lock waits for the change and sees it whole.
func TestSnapshotsReaderWaitsForLockedChange(t *testing.T) {
	ss := NewSnapshots(Mark{})
	shared := NewTree()
	ss.Publish(shared, 0, 0, false)
	locked := ss.Change(false) // no reader since the publish: locked
	if !locked {
		t.Fatal("a change with no reader since the last publish did not lock")
	}
	var wg sync.WaitGroup
	var got *Snap
	wg.Go(func() { got = ss.load() })
	time.Sleep(20 * time.Millisecond) // the reader waits meanwhile
	ow := NewTreeWriter(NewTree(), shared.LoopView(noBase{}), 1)
	for _, k := range []string{"x", "y"} {
		if err := ow.Put(Path{[]byte("b")}, []byte(k), []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	MergeOverlay(shared, ow.Scratch())
	ss.Publish(shared, 1, 0, locked)
	wg.Wait()
	if got.gen != 1 || !overlayHas(got, "x") || !overlayHas(got, "y") {
		t.Fatalf("the waiting reader got gen %d (x %v, y %v), want gen 1 with both keys", got.gen, overlayHas(got, "x"), overlayHas(got, "y"))
	}
	// A long change (a prune) never holds the lock: it freezes first.
	if ss.Change(true) {
		t.Fatal("a long change holds the lock")
	}
	if ss.stale.Load() {
		t.Fatal("a long change left the published state unfrozen")
	}
}

// A merge of many keys (a group of many ops, or of ops of many keys) does
// not keep readers waiting under the lock for its whole length (some
// 0.3 ms per thousand keys, 12 ms for 20,000): the commit loop freezes the
// published state first, as for a prune, and merges with copy-on-write.
// Seen through what it leaves: the state before the big group frozen, not
// the one a reader froze earlier.
func TestBigMergeFreezesFirst(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{HoldApplier: true}}) // no prune freezes meanwhile
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ss := e.wal.snaps
	read := func() {
		t.Helper()
		if err := e.View(context.Background(), func(Reader) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := do(e, put("first")); err != nil {
		t.Fatal(err)
	}
	read() // a reader freezes the state with "first"
	frozen := ss.snap.Load().gen
	if err := do(e, put("second")); err != nil { // published, not frozen
		t.Fatal(err)
	}
	small := ss.snap.Load().gen
	if small != frozen {
		t.Fatalf("a small merge froze the state before it (gen %d, the reader froze %d): it should lock instead", small, frozen)
	}
	if err := do(e, put("third")); err != nil { // published, not frozen
		t.Fatal(err)
	}
	big := &Op{Apply: func(w Writer) error {
		for i := range bigMerge + 1 {
			if err := w.Put(testBucket, fmt.Appendf(nil, "big%05d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}}
	if err := do(e, big); err != nil {
		t.Fatal(err)
	}
	if got := ss.snap.Load().gen; got != e.wal.gen-1 {
		t.Fatalf("before a merge of %d keys the frozen state is gen %d, want the one before it (%d): the merge held the lock", bigMerge+1, got, e.wal.gen-1)
	}
	err = e.View(context.Background(), func(r Reader) error {
		if r.Get(testBucket, []byte("third")) == nil || r.Get(testBucket, fmt.Appendf(nil, "big%05d", bigMerge)) == nil {
			return errors.New("a write is missing after the big merge")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A group that drops a bucket freezes the published state before its
// merge too, however few keys it has: the merge deletes everything shared
// holds under the bucket, which a reader must not wait for.
func TestDropBucketMergeFreezesFirst(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "m.db")
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{HoldApplier: true}}) // shared keeps every key: no prune
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ss := e.wal.snaps
	bulk := &Op{Apply: func(w Writer) error {
		for i := range 2000 {
			if err := w.Put(testBucket, fmt.Appendf(nil, "k%05d", i), []byte("v")); err != nil {
				return err
			}
		}
		return nil
	}}
	if err := do(e, bulk); err != nil {
		t.Fatal(err)
	}
	if err := e.View(context.Background(), func(Reader) error { return nil }); err != nil {
		t.Fatal(err) // a reader freezes the state with the bulk
	}
	if err := do(e, put("other")); err != nil { // published, not frozen
		t.Fatal(err)
	}
	drop := &Op{Apply: func(w Writer) error { return w.DropBucket(testBucket) }}
	if err := do(e, drop); err != nil {
		t.Fatal(err)
	}
	if got := ss.snap.Load().gen; got != e.wal.gen-1 {
		t.Fatalf("before merging a bucket's drop the frozen state is gen %d, want the one before it (%d): the merge held the lock", got, e.wal.gen-1)
	}
	err = e.View(context.Background(), func(r Reader) error {
		if r.Get(testBucket, []byte("k00000")) != nil || r.Get(testBucket, []byte("other")) != nil {
			return errors.New("a key of the dropped bucket is still seen")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
