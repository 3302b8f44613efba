package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Tests of the open group: while the log's fsync is in flight, the ops
// the commit loop takes join one group, logged as one record when the
// fsync ends (no op can be acknowledged before the fsync after its own
// record anyway), instead of a record (a read transaction, a pwrite, a
// merge) per batch the loop drains.

// groupObserver records the size of every group made durable.
type groupObserver struct {
	nopObserver
	mu     sync.Mutex
	groups []int // ops per group, in order
}

func (o *groupObserver) Group(ops, _ int, _ uint64) {
	o.mu.Lock()
	o.groups = append(o.groups, ops)
	o.mu.Unlock()
}

func (o *groupObserver) take() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	g := o.groups
	o.groups = nil
	return g
}

// openHeldGroups opens an engine whose log fsync, once hold is set,
// signals inSync and waits for rel; fail, if set when the held fsync is
// released, makes it fail. The log's first growth is fsync'd before
// (a write first), and the applier is held (no rewind: the commit loop's
// fsync of the cleared head would be the one held, and the loop with
// it), so the fsync held is the syncer's.
func openHeldGroups(t *testing.T, path string) (e *Engine, obs *groupObserver, hold, fail *atomic.Bool, inSync chan struct{}, rel func()) {
	t.Helper()
	inSync, release := make(chan struct{}, 1), make(chan struct{})
	hold, fail, obs = new(atomic.Bool), new(atomic.Bool), &groupObserver{}
	e, err := Open(path, Options{Bolt: bolt.Options{Timeout: time.Minute}, LogPath: path + "-wal",
		Mark: Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")}, Observer: obs,
		Hooks: Hooks{HoldApplier: true, SyncLog: func(f *os.File) error {
			if hold.CompareAndSwap(true, false) {
				inSync <- struct{}{}
				<-release
				if fail.Load() {
					return errors.New("injected fsync failure")
				}
			}
			return Fdatasync(f)
		}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(Path{[]byte("warm")}, []byte("up"), []byte("1")) }}); err != nil {
		t.Fatal(err)
	}
	obs.take()
	return e, obs, hold, fail, inSync, sync.OnceFunc(func() { close(release) })
}

// sendBuilt queues op and returns once the commit loop has applied it (or
// found its context done): the next op then comes in a batch of its own.
func sendBuilt(t *testing.T, e *Engine, op *Op) *Op {
	t.Helper()
	if op.Ctx == nil {
		op.Ctx = context.Background()
	}
	op.Done = make(chan error, 1)
	applied := make(chan struct{})
	apply := op.Apply
	op.Apply = func(w Writer) error { defer close(applied); return apply(w) }
	if err := e.Send(op.Ctx, op); err != nil {
		t.Fatal(err)
	}
	<-applied
	return op
}

var errOpRefused = errors.New("the op refuses after its change")

// TestOpsQueuedDuringAFsyncShareOneRecord: while A's fsync is held, four
// ops come one batch at a time: B and C (Sync), D (changes, then fails),
// E (NoSync, reads B and C). They make one group, logged when A's fsync
// ends: A's group and theirs, two groups of 1 and 4 ops (on main, one
// group per batch: 1, 1, 1, 1, D's failed group unlogged). D fails alone;
// E reads B's and C's changes in the open group; no reader sees any of
// them before A's fsync ends; all but D's are readable after.
func TestOpsQueuedDuringAFsyncShareOneRecord(t *testing.T) {
	t.Parallel()
	e, obs, hold, _, inSync, rel := openHeldGroups(t, filepath.Join(t.TempDir(), "g.db"))
	defer e.Close()
	defer rel()
	hold.Store(true)
	a := put("a")
	a.Ctx, a.Done = context.Background(), make(chan error, 1)
	if err := e.Send(a.Ctx, a); err != nil {
		t.Fatal(err)
	}
	<-inSync
	b := sendBuilt(t, e, put("b"))
	c := sendBuilt(t, e, put("c"))
	d := sendBuilt(t, e, &Op{Apply: func(w Writer) error {
		if err := w.Put(testBucket, []byte("d"), []byte("v")); err != nil {
			return err
		}
		return errOpRefused
	}})
	var seen atomic.Value
	eo := &Op{NoSync: true, Apply: func(w Writer) error {
		got := string(w.Get(testBucket, []byte("b"))) + string(w.Get(testBucket, []byte("c")))
		seen.Store(got)
		if got != "vv" {
			return errWrongRead
		}
		return w.Put(testBucket, []byte("e"), []byte("v"))
	}}
	sendBuilt(t, e, eo)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		if got := readKey(t, e, k); got != "" {
			t.Errorf("%s reads %q before its fsync ended", k, got)
		}
	}
	rel()
	for name, op := range map[string]*Op{"a": a, "b": b, "c": c, "e": eo} {
		if err := <-op.Done; err != nil {
			t.Fatalf("%s: %v (e read %q)", name, err, seen.Load())
		}
	}
	if err := <-d.Done; !errors.Is(err, errOpRefused) {
		t.Fatalf("d: %v, want its own error", err)
	}
	for k, want := range map[string]string{"a": "v", "b": "v", "c": "v", "d": "", "e": "v"} {
		if got := readKey(t, e, k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := obs.take(); len(got) != 2 || got[0] != 1 || got[1] != 4 {
		t.Errorf("groups logged (ops each) %v, want [1 4]: the ops queued during A's fsync share one record", got)
	}
}

// TestFailedFsyncFailsTheOpenGroup: A's fsync fails while B and C wait in
// the open group: all three fail with the store's failure, later writes
// are refused, and after a reopen none of them is there.
func TestFailedFsyncFailsTheOpenGroup(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "f.db")
	e, _, hold, fail, inSync, rel := openHeldGroups(t, path)
	hold.Store(true)
	fail.Store(true)
	a := put("a")
	a.Ctx, a.Done = context.Background(), make(chan error, 1)
	if err := e.Send(a.Ctx, a); err != nil {
		t.Fatal(err)
	}
	<-inSync
	b := sendBuilt(t, e, put("b"))
	c := sendBuilt(t, e, &Op{NoSync: true, Apply: func(w Writer) error { return w.Put(testBucket, []byte("c"), []byte("v")) }})
	rel()
	for name, op := range map[string]*Op{"a": a, "b": b, "c": c} {
		if err := <-op.Done; !errors.Is(err, ErrFailed) {
			t.Errorf("%s: %v, want ErrFailed", name, err)
		}
	}
	if err := do(e, put("z")); !errors.Is(err, ErrFailed) {
		t.Errorf("a write after the failure: %v, want ErrFailed", err)
	}
	for _, k := range []string{"a", "b", "c", "z"} {
		if got := readKey(t, e, k); got != "" {
			t.Errorf("%s reads %q after its fsync failed", k, got)
		}
	}
	_ = e.Close() // reports the failure
	e = openTestEngine(t, path, false)
	defer e.Close()
	for _, k := range []string{"a", "b", "c", "z"} {
		if got := readKey(t, e, k); got != "" {
			t.Errorf("%s = %q after a reopen, want absent", k, got)
		}
	}
}

// TestSoloWaitsForTheOpenGroup: a solo op queued behind an op in the open
// group runs after that op is logged, durable and acknowledged.
func TestSoloWaitsForTheOpenGroup(t *testing.T) {
	t.Parallel()
	e, _, hold, _, inSync, rel := openHeldGroups(t, filepath.Join(t.TempDir(), "s.db"))
	defer e.Close()
	defer rel()
	hold.Store(true)
	a := put("a")
	a.Ctx, a.Done = context.Background(), make(chan error, 1)
	if err := e.Send(a.Ctx, a); err != nil {
		t.Fatal(err)
	}
	<-inSync
	b := sendBuilt(t, e, put("b"))
	var acked atomic.Bool
	solo := &Op{Ctx: context.Background(), Done: make(chan error, 1), Solo: func() error {
		acked.Store(len(b.Done) == 1)
		return nil
	}}
	if err := e.Send(solo.Ctx, solo); err != nil {
		t.Fatal(err)
	}
	rel()
	if err := <-solo.Done; err != nil {
		t.Fatal(err)
	}
	if !acked.Load() {
		t.Error("the solo op ran before b, queued ahead of it, was acknowledged")
	}
	if err := <-b.Done; err != nil {
		t.Fatal(err)
	}
	if got := readKey(t, e, "b"); got != "v" {
		t.Errorf("b = %q, want v", got)
	}
}

// TestOpenGroupKeepsMaxGroup: more than MaxGroup Async ops queued during
// one fsync make groups of at most MaxGroup ops, every one of them logged.
func TestOpenGroupKeepsMaxGroup(t *testing.T) {
	t.Parallel()
	e, obs, hold, _, inSync, rel := openHeldGroups(t, filepath.Join(t.TempDir(), "m.db"))
	defer e.Close()
	defer rel()
	hold.Store(true)
	a := put("a")
	a.Ctx, a.Done = context.Background(), make(chan error, 1)
	if err := e.Send(a.Ctx, a); err != nil {
		t.Fatal(err)
	}
	<-inSync
	const n = MaxGroup + MaxGroup/2
	for i := range n {
		k := []byte{byte(i >> 8), byte(i)}
		op := &Op{Ctx: context.Background(), Apply: func(w Writer) error { return w.Put(testBucket, k, []byte("v")) }}
		if err := e.Send(op.Ctx, op); err != nil {
			t.Fatal(err)
		}
	}
	rel()
	flush := &Op{Ctx: context.Background(), Done: make(chan error, 1)}
	if err := e.Send(flush.Ctx, flush); err != nil {
		t.Fatal(err)
	}
	if err := <-flush.Done; err != nil {
		t.Fatal(err)
	}
	if err := <-a.Done; err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, g := range obs.take() {
		if g > MaxGroup {
			t.Errorf("a group of %d ops, over MaxGroup (%d)", g, MaxGroup)
		}
		total += g
	}
	// a, the Async ops and the flush (a barrier counts in its group; a
	// group of a barrier alone logs nothing and is not counted).
	if total < n+1 {
		t.Errorf("%d ops in logged groups, want at least %d", total, n+1)
	}
}
