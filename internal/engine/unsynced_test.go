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

// Tests of the groups in flight, whose trees a group is built on while
// they wait for their fsync (addOps): a group built then reads every
// flight's changes, in order, and nothing stale of a finished flight
// stays in what it reads.

// openSyncHook opens an engine at path whose log's fsync is sync. The
// applier is held: had it applied the groups written so far, the log
// would be rewound, and the next group's first fsync would be the commit
// loop's own (the new pass's cleared head, Log.ClearHead), not the
// syncer's.
func openSyncHook(t *testing.T, path string, sync func(*os.File) error) *Engine {
	t.Helper()
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: nopObserver{},
		Hooks: Hooks{SyncLog: sync, HoldApplier: true}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// readKey returns k's value as a reader sees it ("" if absent).
func readKey(t *testing.T, e *Engine, k string) string {
	t.Helper()
	var v string
	if err := e.View(context.Background(), func(r Reader) error {
		v = string(r.Get(testBucket, []byte(k)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// putFrom is an op that reads key from, which must hold want as the op
// sees it (else it fails with what it saw), and sets key to to val.
func putFrom(from, want, to, val string, seen *atomic.Value) *Op {
	return &Op{Apply: func(w Writer) error {
		got := string(w.Get(testBucket, []byte(from)))
		seen.Store(got)
		if got != want {
			return errWrongRead
		}
		return w.Put(testBucket, []byte(to), []byte(val))
	}}
}

// openHeldFsync opens an engine whose next log fsync, once hold is set,
// signals inSync and waits for rel (safe to call more than once).
func openHeldFsync(t *testing.T) (e *Engine, hold *atomic.Bool, inSync chan struct{}, rel func()) {
	t.Helper()
	inSync, release := make(chan struct{}, 1), make(chan struct{})
	hold = new(atomic.Bool)
	e = openSyncHook(t, filepath.Join(t.TempDir(), "held.db"), func(f *os.File) error {
		if hold.CompareAndSwap(true, false) {
			inSync <- struct{}{}
			<-release
		}
		return Fdatasync(f)
	})
	// The log's first record grows the file, and that growth is fsync'd in
	// the commit loop itself (reserve): write one first, so that the fsync
	// held is the syncer's (with the applier held, the log is not rewound
	// after it: a held fsync of the new pass's cleared head, in the commit
	// loop, would keep the groups the tests build during it from being
	// built, a hang).
	if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(Path{[]byte("warm")}, []byte("up"), []byte("1")) }}); err != nil {
		t.Fatal(err)
	}
	return e, hold, inSync, sync.OnceFunc(func() { close(release) })
}

type wrongRead struct{}

func (wrongRead) Error() string { return "an op read a stale or missing value" }

var errWrongRead error = wrongRead{}

// TestGroupsBuiltDuringAFsyncReadTheFlightsAhead: while the fsync of a
// lone write is held, three more groups are built one by one, each reading
// what the one before it wrote (a Sync, a NoSync and a Sync group): each
// sees it, through the flights' trees, and all four are readable once released.
func TestGroupsBuiltDuringAFsyncReadTheFlightsAhead(t *testing.T) {
	t.Parallel()
	e, hold, inSync, rel := openHeldFsync(t)
	defer e.Close()
	defer rel() // before Close, on every way out
	hold.Store(true)
	send := func(op *Op, noSync bool) *Op {
		op.Ctx, op.Done, op.NoSync = context.Background(), make(chan error, 1), noSync
		if err := e.Send(op.Ctx, op); err != nil {
			t.Fatal(err)
		}
		return op
	}
	a := send(put("k"), false)
	<-inSync
	var seen [3]atomic.Value
	var ops []*Op
	for i, step := range []struct {
		from, want, to string
		noSync         bool
	}{{"k", "v", "k1", false}, {"k1", "1", "k2", true}, {"k2", "2", "k3", false}} {
		applied := make(chan struct{})
		op := putFrom(step.from, step.want, step.to, string(rune('1'+i)), &seen[i])
		apply := op.Apply
		op.Apply = func(w Writer) error { defer close(applied); return apply(w) }
		ops = append(ops, send(op, step.noSync))
		<-applied // its own group: the next is sent once this one is built
	}
	rel()
	if err := <-a.Done; err != nil {
		t.Fatalf("the held write: %v", err)
	}
	for i, op := range ops {
		if err := <-op.Done; err != nil {
			t.Fatalf("group %d, built during the held fsync: %v (it read %q)", i+1, err, seen[i].Load())
		}
	}
	for k, want := range map[string]string{"k": "v", "k1": "1", "k2": "2", "k3": "3"} {
		if got := readKey(t, e, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

// TestNothingStaleInUnsyncedAfterFlightsFinish: a group built after the
// flights finished reads what groups that finished at once (NoSync,
// nothing ahead) wrote since, not a finished flight's older value left
// behind (once in walState.unsynced, which h157 removed): lone Sync writes, and a Sync write with a NoSync group built
// behind it during its fsync.
func TestNothingStaleInUnsyncedAfterFlightsFinish(t *testing.T) {
	t.Parallel()
	e, hold, inSync, rel := openHeldFsync(t)
	defer e.Close()
	defer rel()
	set := func(k, v string, noSync bool) *Op {
		return &Op{NoSync: noSync, Apply: func(w Writer) error { return w.Put(testBucket, []byte(k), []byte(v)) }}
	}
	var seen atomic.Value
	// Lone: a Sync write, then a NoSync one finishing at once, then a
	// group reading the key.
	if err := do(e, set("k", "1", false)); err != nil {
		t.Fatal(err)
	}
	if err := do(e, set("k", "2", true)); err != nil {
		t.Fatal(err)
	}
	if err := do(e, putFrom("k", "2", "x", "x", &seen)); err != nil {
		t.Fatalf("after a lone Sync write and a NoSync one: %v (read %q)", err, seen.Load())
	}
	// A Sync write held in its fsync, a NoSync write built behind it.
	hold.Store(true)
	a := set("j", "1", false)
	a.Ctx, a.Done = context.Background(), make(chan error, 1)
	if err := e.Send(a.Ctx, a); err != nil {
		t.Fatal(err)
	}
	<-inSync
	b := set("j", "2", true)
	b.Ctx, b.Done = context.Background(), make(chan error, 1)
	applied := make(chan struct{})
	apply := b.Apply
	b.Apply = func(w Writer) error { defer close(applied); return apply(w) }
	if err := e.Send(b.Ctx, b); err != nil {
		t.Fatal(err)
	}
	<-applied
	rel()
	for _, op := range []*Op{a, b} {
		if err := <-op.Done; err != nil {
			t.Fatal(err)
		}
	}
	if err := do(e, set("j", "3", true)); err != nil {
		t.Fatal(err)
	}
	if err := do(e, putFrom("j", "3", "y", "y", &seen)); err != nil {
		t.Fatalf("after the flights finished and a NoSync write: %v (read %q)", err, seen.Load())
	}
	if got := readKey(t, e, "j"); got != "3" {
		t.Errorf("j = %q, want 3", got)
	}
}
