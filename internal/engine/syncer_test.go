package engine

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestNextFsyncStartsWhileTheLoopBuildsAGroup: when an fsync ends and
// more groups are logged, the syncer starts the next fsync at once, while
// the commit loop is still busy building a group: the disk does not wait
// for the loop to hear of the fsync that ended. A (Sync) is held in its
// fsync; B (Sync) is logged behind it; C's op holds the commit loop; A's
// fsync is released: B's fsync must start while C still holds the loop.
// Then every write is acknowledged and readable. Ops taken during an
// fsync join one open group, logged when the fsync ends (commit.go): B's
// group is logged during A's fsync because D, after it, would pass the
// log's record limit with it (D starts the next group, which C joins).
func TestNextFsyncStartsWhileTheLoopBuildsAGroup(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	inFirst, second := make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	rel := sync.OnceFunc(func() { close(release) })
	var hold atomic.Bool
	path := filepath.Join(t.TempDir(), "s.db")
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{MaxRecordBody: testRecordLimit, SyncLog: func(f *os.File) error {
			if hold.Load() {
				switch calls.Add(1) {
				case 1:
					close(inFirst)
					<-release
				case 2:
					close(second)
				}
			}
			return Fdatasync(f)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	defer rel()
	send := func(op *Op) *Op {
		op.Ctx, op.Done = context.Background(), make(chan error, 1)
		if err := e.Send(op.Ctx, op); err != nil {
			t.Fatal(err)
		}
		return op
	}
	applied := func(op *Op) (*Op, chan struct{}) {
		ch := make(chan struct{})
		apply, done := op.Apply, sync.OnceFunc(func() { close(ch) })
		// Once: an op cut from a group (the record limit) is applied again
		// in the next.
		op.Apply = func(w Writer) error { defer done(); return apply(w) }
		return op, ch
	}
	// The first record grows the log, whose growth the hook fsyncs too,
	// on the commit loop: grown first, the held fsyncs are the syncer's.
	if err := do(e, put("grown")); err != nil {
		t.Fatal(err)
	}
	hold.Store(true)
	a := send(put("a"))
	<-inFirst
	half := make([]byte, testRecordLimit*6/10)
	b, bApplied := applied(&Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("b"), half) }})
	send(b)
	<-bApplied // B's group is built; D cuts it
	d, dApplied := applied(&Op{Apply: func(w Writer) error { return w.Put(testBucket, []byte("d"), half) }})
	send(d)
	<-dApplied // B's group is logged; D's group is open
	unstick, inC := make(chan struct{}), make(chan struct{})
	c := send(&Op{Apply: func(w Writer) error {
		close(inC)
		<-unstick
		return w.Put(testBucket, []byte("c"), []byte("v"))
	}})
	<-inC
	rel()
	select {
	case <-second:
	case <-time.After(30 * time.Second):
		close(unstick)
		t.Fatal("B's fsync did not start while the commit loop built C's group: the disk waits for the loop")
	}
	close(unstick)
	for name, op := range map[string]*Op{"a": a, "b": b, "c": c, "d": d} {
		if err := <-op.Done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := "v"
		if name == "b" || name == "d" {
			want = string(half)
		}
		if got := readKey(t, e, name); got != want {
			t.Errorf("%s reads %d bytes, want %d", name, len(got), len(want))
		}
	}
}
