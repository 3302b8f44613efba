package ckpt_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

// chain writes checkpoints to (thread, ns) whose ids carry the given
// creation times (oldest first), after the ones already there, W1-style:
// "ctx" written at the first step and carried over, "n" written at every
// step, one pending write per step.
func chain(t *testing.T, s *ckpt.Store, thread, ns string, times []time.Time) []ckpt.Config {
	t.Helper()
	var out []ckpt.Config
	parent := ckpt.Config{ThreadID: thread, CheckpointNS: ns}
	if head, err := s.GetTuple(ctx, parent); err == nil {
		parent = head.Config
	}
	start := len(ids(t, s, thread, ns)) // versions go on from there
	for j, ts := range times {
		i := start + j
		id := ulid.MustNew(ulid.Timestamp(ts), rand.Reader).String()
		cp := ckpt.Checkpoint{
			ID:              id,
			ChannelValues:   map[string]any{"n": i, "ctx": "context " + thread},
			ChannelVersions: map[string]string{"n": fmt.Sprint(i + 1), "ctx": "1"},
		}
		nv := map[string]string{"n": fmt.Sprint(i + 1)}
		if parent.CheckpointID == "" {
			nv["ctx"] = "1"
		}
		c, err := s.Put(ctx, parent, cp, ckpt.Metadata{"step": i}, nv)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PutWrites(ctx, c, []ckpt.Write{{Channel: "n", Value: i}}, "task", ""); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
		parent = c
	}
	return out
}

// times returns n instants, one millisecond apart, ending at end.
func times(end time.Time, n int) []time.Time {
	out := make([]time.Time, n)
	for i := range out {
		out[i] = end.Add(time.Duration(i-n+1) * time.Millisecond)
	}
	return out
}

// ids lists the checkpoint ids of (thread, ns), oldest first.
func ids(t *testing.T, s *ckpt.Store, thread, ns string) []string {
	t.Helper()
	var out []string
	for tp, err := range s.List(ctx, ckpt.ListOptions{ThreadID: thread, Namespace: ckpt.NS(ns)}) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tp.Config.CheckpointID)
	}
	slices.Reverse(out)
	return out
}

func idsOf(cfgs []ckpt.Config) []string {
	out := make([]string, len(cfgs))
	for i, c := range cfgs {
		out[i] = c.CheckpointID
	}
	return out
}

// checkInvariants checks the store is consistent and no blob sweep is
// pending.
func checkInvariants(t *testing.T, s *ckpt.Store) {
	t.Helper()
	checkConsistent(t, s)
	if n := ckpt.PendingSweeps(s); n != 0 {
		t.Fatalf("%d blob sweeps left pending", n)
	}
}

// checkConsistent checks the store is consistent; unused blobs may wait
// for a pending sweep.
func checkConsistent(t *testing.T, s *ckpt.Store) {
	t.Helper()
	if err := ckpt.CheckInvariants(s); err != nil {
		t.Fatalf("store inconsistent:\n%v", err)
	}
}

// loadsWhole checks that every listed checkpoint loads with its values.
func loadsWhole(t *testing.T, s *ckpt.Store, cfgs []ckpt.Config) {
	t.Helper()
	for _, c := range cfgs {
		tp, err := s.GetTuple(ctx, c)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		var ctxVal string
		var n int
		if err := tp.Decode("ctx", &ctxVal); err != nil || ctxVal != "context "+c.ThreadID {
			t.Fatalf("%+v: ctx %q, %v", c, ctxVal, err)
		}
		if err := tp.Decode("n", &n); err != nil {
			t.Fatalf("%+v: n: %v", c, err)
		}
		if len(tp.PendingWrites) != 1 {
			t.Fatalf("%+v: %d pending writes", c, len(tp.PendingWrites))
		}
	}
}

func TestGCKeepLast(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	now := time.Now()
	a := chain(t, s, "a", "", times(now, 10))
	aSub := chain(t, s, "a", "sub", times(now, 4))
	b := chain(t, s, "b", "", times(now, 2))

	st, err := s.GC(ctx, ckpt.Policy{KeepLast: 3})
	if err != nil {
		t.Fatal(err)
	}
	// a/"" loses 7 checkpoints (7 writes, 7 "n" blobs); a/sub loses 1.
	want := ckpt.GCStats{Checkpoints: 8, Writes: 8, Blobs: 8}
	if st.BytesFreed <= 0 {
		t.Fatalf("BytesFreed = %d", st.BytesFreed)
	}
	st.BytesFreed = 0
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if got := ids(t, s, "a", ""); !slices.Equal(got, idsOf(a[7:])) {
		t.Fatalf("a kept %v, want %v", got, idsOf(a[7:]))
	}
	if got := ids(t, s, "a", "sub"); !slices.Equal(got, idsOf(aSub[1:])) {
		t.Fatalf("a/sub kept %v", got)
	}
	if got := ids(t, s, "b", ""); !slices.Equal(got, idsOf(b)) {
		t.Fatalf("b kept %v", got)
	}
	// ctx was written by the deleted first checkpoint and is still there.
	loadsWhole(t, s, slices.Concat(a[7:], aSub[1:], b))
	checkInvariants(t, s)
	// Running again finds nothing.
	if st, err := s.GC(ctx, ckpt.Policy{KeepLast: 3}); err != nil || st != (ckpt.GCStats{}) {
		t.Fatalf("second GC: %+v, %v", st, err)
	}
}

func TestGCMaxAgeNeverTakesTheHead(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	now := time.Now()
	old := now.Add(-48 * time.Hour)
	// mixed: 5 old, then 3 recent. stale: only old ones (its head is old).
	mixed := chain(t, s, "mixed", "", times(old, 5))
	mixed = append(mixed, chain(t, s, "mixed", "", times(now, 3))...)
	stale := chain(t, s, "stale", "", times(old.Add(-time.Hour), 4))
	staleSub := chain(t, s, "stale", "sub", times(old.Add(-time.Hour), 2))
	fresh := chain(t, s, "fresh", "", times(now, 3))

	st, err := s.GC(ctx, ckpt.Policy{MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if st.Checkpoints != 5+3+1 || st.Threads != 0 {
		t.Fatalf("stats %+v, want 9 checkpoints, no thread", st)
	}
	if got := ids(t, s, "mixed", ""); !slices.Equal(got, idsOf(mixed[5:])) {
		t.Fatalf("mixed kept %v, want the 3 recent", got)
	}
	if got := ids(t, s, "stale", ""); !slices.Equal(got, idsOf(stale[3:])) {
		t.Fatalf("stale kept %v, want only its head", got)
	}
	if got := ids(t, s, "stale", "sub"); !slices.Equal(got, idsOf(staleSub[1:])) {
		t.Fatalf("stale/sub kept %v, want only its head", got)
	}
	if got := ids(t, s, "fresh", ""); !slices.Equal(got, idsOf(fresh)) {
		t.Fatalf("fresh kept %v", got)
	}
	loadsWhole(t, s, slices.Concat(mixed[5:], stale[3:], staleSub[1:], fresh))
	checkInvariants(t, s)
	// A stale head still takes a next step.
	if _, err := s.Put(ctx, stale[3], ckpt.Checkpoint{}, nil, nil); err != nil {
		t.Fatalf("put after the stale thread's head: %v", err)
	}
}

func TestGCThreadTTL(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour)
	chain(t, s, "idle", "", times(old, 5))
	chain(t, s, "idle", "sub", times(old, 2))
	// "active" has old checkpoints but a recent head: the TTL keeps it whole.
	active := chain(t, s, "active", "", times(old, 3))
	active = append(active, chain(t, s, "active", "", times(now, 1))...)

	st, err := s.GC(ctx, ckpt.Policy{ThreadTTL: 7 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// idle: 7 checkpoints, 7 writes, blobs: ctx+5 n in "", ctx+2 n in sub.
	if want := (ckpt.GCStats{Threads: 1, Checkpoints: 7, Writes: 7, Blobs: 9}); st.Threads != want.Threads || st.Checkpoints != want.Checkpoints || st.Writes != want.Writes || st.Blobs != want.Blobs {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	for _, ns := range []string{"", "sub"} {
		if _, err := s.GetTuple(ctx, ckpt.Config{ThreadID: "idle", CheckpointNS: ns}); !errors.Is(err, ckpt.ErrNotFound) {
			t.Fatalf("idle/%q: %v, want ErrNotFound", ns, err)
		}
	}
	if got := ids(t, s, "active", ""); !slices.Equal(got, idsOf(active)) {
		t.Fatalf("active kept %v", got)
	}
	for tp, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		if tp.Config.ThreadID == "idle" {
			t.Fatalf("removed thread still indexed: %+v", tp.Config)
		}
	}
	checkInvariants(t, s)
}

func TestGCPoliciesCombine(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	now := time.Now()
	old := now.Add(-48 * time.Hour)
	// a: 4 old + 4 recent. KeepLast 6 alone would keep 6 (2 old);
	// MaxAge 24h alone would keep the 4 recent; together: the 4 recent.
	a := chain(t, s, "a", "", times(old, 4))
	a = append(a, chain(t, s, "a", "", times(now, 4))...)
	// b: 10 recent: MaxAge keeps all, KeepLast keeps 6.
	b := chain(t, s, "b", "", times(now, 10))
	// c: idle for longer than the TTL: goes whole, though KeepLast alone
	// would keep it.
	chain(t, s, "c", "", times(old.Add(-30*24*time.Hour), 2))

	p := ckpt.Policy{KeepLast: 6, MaxAge: 24 * time.Hour, ThreadTTL: 7 * 24 * time.Hour}
	dry, err := s.GC(ctx, ckpt.Policy{KeepLast: p.KeepLast, MaxAge: p.MaxAge, ThreadTTL: p.ThreadTTL, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(t, s, "b", ""); len(got) != 10 {
		t.Fatalf("dry run removed data: b holds %d", len(got))
	}
	st, err := s.GC(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if st != dry {
		t.Fatalf("dry run said %+v, GC did %+v", dry, st)
	}
	if want := (ckpt.GCStats{Threads: 1, Checkpoints: 4 + 4 + 2, Writes: 10, Blobs: 4 + 4 + 3}); st.Threads != want.Threads || st.Checkpoints != want.Checkpoints || st.Writes != want.Writes || st.Blobs != want.Blobs {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	if got := ids(t, s, "a", ""); !slices.Equal(got, idsOf(a[4:])) {
		t.Fatalf("a kept %v", got)
	}
	if got := ids(t, s, "b", ""); !slices.Equal(got, idsOf(b[4:])) {
		t.Fatalf("b kept %v", got)
	}
	if got := ids(t, s, "c", ""); len(got) != 0 {
		t.Fatalf("c kept %v", got)
	}
	loadsWhole(t, s, slices.Concat(a[4:], b[4:]))
	checkInvariants(t, s)
}

func TestGCDryRunMatchesRunAndChangesNothing(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	now := time.Now()
	for i := range 5 {
		chain(t, s, fmt.Sprint("t", i), "", times(now, 3+i))
		chain(t, s, fmt.Sprint("t", i), "sub", times(now, 2+i))
	}
	p := ckpt.Policy{KeepLast: 2}
	dump := func() map[string][]string {
		m := map[string][]string{}
		for i := range 5 {
			for _, ns := range []string{"", "sub"} {
				m[fmt.Sprint(i, ns)] = ids(t, s, fmt.Sprint("t", i), ns)
			}
		}
		return m
	}
	before := dump()
	blobs := ckpt.CountBlobs(s, "t4")
	p.DryRun = true
	dry, err := s.GC(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dump(), before) || ckpt.CountBlobs(s, "t4") != blobs {
		t.Fatal("dry run changed the store")
	}
	p.DryRun = false
	st, err := s.GC(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if dry != st || st.Checkpoints == 0 || st.BytesFreed == 0 {
		t.Fatalf("dry run %+v, run %+v", dry, st)
	}
	checkInvariants(t, s)
}

func TestGCSweepsBlobs(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	// c1 writes a@1, b@1 and an orphan o@1 (named in newVersions, absent
	// from its versions); c2 writes b@2 and keeps a@1; c3 writes a@2.
	put := func(parent ckpt.Config, vals map[string]any, vers, nv map[string]string) ckpt.Config {
		c, err := s.Put(ctx, parent, ckpt.Checkpoint{ChannelValues: vals, ChannelVersions: vers}, nil, nv)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c1 := put(ckpt.Config{ThreadID: "t"}, map[string]any{"a": "a1", "b": "b1", "o": "orphan"}, map[string]string{"a": "1", "b": "1"}, map[string]string{"a": "1", "b": "1", "o": "1"})
	c2 := put(c1, map[string]any{"b": "b2"}, map[string]string{"a": "1", "b": "2"}, map[string]string{"b": "2"})
	c3 := put(c2, map[string]any{"a": "a2"}, map[string]string{"a": "2", "b": "2"}, map[string]string{"a": "2"})
	if n := ckpt.CountBlobs(s, "t"); n != 5 {
		t.Fatalf("%d blobs before GC, want 5", n)
	}
	// Keep c2 and c3: c1 goes; b@1 and the orphan go; a@1 stays for c2.
	st, err := s.GC(ctx, ckpt.Policy{KeepLast: 2})
	if err != nil {
		t.Fatal(err)
	}
	if st.Checkpoints != 1 || st.Blobs != 2 {
		t.Fatalf("stats %+v, want 1 checkpoint and 2 blobs", st)
	}
	tp, err := s.GetTuple(ctx, c2)
	if err != nil {
		t.Fatal(err)
	}
	var a, b string
	if tp.Decode("a", &a); a != "a1" {
		t.Fatalf("c2 lost a@1 (written by the deleted c1): %q", a)
	}
	if tp.Decode("b", &b); b != "b2" {
		t.Fatalf("c2 b = %q", b)
	}
	checkInvariants(t, s)
	// Keep only c3: a@1 and b... b@2 is still used by c3.
	if st, err = s.GC(ctx, ckpt.Policy{KeepLast: 1}); err != nil || st.Blobs != 1 {
		t.Fatalf("second GC %+v, %v; want 1 blob (a@1)", st, err)
	}
	if n := ckpt.CountBlobs(s, "t"); n != 2 {
		t.Fatalf("%d blobs left, want 2 (a@2, b@2)", n)
	}
	if _, err := s.GetTuple(ctx, c3); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, s)
}

func TestGCRejectsBadPolicyAndReadOnly(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, ckpt.Options{})
	for _, p := range []ckpt.Policy{{KeepLast: -1}, {MaxAge: -time.Second}, {ThreadTTL: -1}} {
		if _, err := s.GC(ctx, p); !errors.Is(err, ckpt.ErrInvalidConfig) {
			t.Errorf("GC(%+v): %v, want ErrInvalidConfig", p, err)
		}
	}
	if _, err := ckpt.Open(path+"2", ckpt.Options{SweepInterval: time.Second, SweepPolicy: ckpt.Policy{KeepLast: -1}}); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("Open with a bad sweep policy: %v, want ErrInvalidConfig", err)
	}
	if err := s.Prune(ctx, []string{"t"}, ckpt.PruneStrategy(7)); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Errorf("Prune with unknown strategy: %v", err)
	}
	chain(t, s, "t", "", times(time.Now(), 3))
	s.Close()
	ro, err := ckpt.Open(path, ckpt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.GC(ctx, ckpt.Policy{KeepLast: 1}); !errors.Is(err, ckpt.ErrReadOnly) {
		t.Errorf("GC on read-only: %v", err)
	}
	if st, err := ro.GC(ctx, ckpt.Policy{KeepLast: 1, DryRun: true}); err != nil || st.Checkpoints != 2 {
		t.Errorf("dry run on read-only: %+v, %v", st, err)
	}
	if _, err := ro.Compact(ctx, nil); !errors.Is(err, ckpt.ErrReadOnly) {
		t.Errorf("Compact on read-only: %v", err)
	}
}

func TestCopyThreadOntoItselfIsInvalid(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	chain(t, s, "t", "", times(time.Now(), 2))
	if err := s.CopyThread(ctx, "t", "t", ckpt.CopyOptions{Replace: true}); !errors.Is(err, ckpt.ErrInvalidConfig) {
		t.Fatalf("err = %v, want ErrInvalidConfig", err)
	}
	if err := s.CopyThread(ctx, "t", "u", ckpt.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, s)
}

// TestGCWhileWriting runs GC rounds while writers keep extending their
// threads: no writer fails (GC never removes the head a writer continues
// from), and the store ends consistent holding the last steps.
func TestGCWhileWriting(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	const writers, steps = 4, 60
	var wg sync.WaitGroup
	var running atomic.Bool
	running.Store(true)
	for w := range writers {
		wg.Go(func() {
			thread := fmt.Sprint("w", w)
			for i := range steps {
				if _, err := s.Save(ctx, thread, map[string]any{"ctx": "fixed", "i": i}, ckpt.Metadata{"run_id": "r"}); err != nil {
					t.Errorf("writer %d step %d: %v", w, i, err)
					return
				}
			}
		})
	}
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for running.Load() {
			if _, err := s.GC(ctx, ckpt.Policy{KeepLast: 2}); err != nil {
				t.Errorf("GC: %v", err)
				return
			}
		}
	}()
	wg.Wait()
	running.Store(false)
	<-gcDone
	if _, err := s.GC(ctx, ckpt.Policy{KeepLast: 2}); err != nil {
		t.Fatal(err)
	}
	for w := range writers {
		snap, err := s.Latest(ctx, fmt.Sprint("w", w))
		if err != nil {
			t.Fatal(err)
		}
		var i int
		var c string
		if err := snap.Decode("i", &i); err != nil || i != steps-1 {
			t.Fatalf("writer %d: latest i = %d, %v", w, i, err)
		}
		if err := snap.Decode("ctx", &c); err != nil || c != "fixed" {
			t.Fatalf("writer %d: ctx = %q, %v", w, c, err)
		}
		if n := len(ids(t, s, fmt.Sprint("w", w), "")); n != 2 {
			t.Fatalf("writer %d: %d checkpoints after KeepLast 2", w, n)
		}
	}
	checkInvariants(t, s)
}

func TestSweeperRunsAndStopsOnClose(t *testing.T) {
	t.Parallel()
	type report struct {
		st  ckpt.GCStats
		err error
	}
	reports := make(chan report, 1000)
	var closed atomic.Bool
	var late atomic.Int32
	s, _ := openTemp(t, ckpt.Options{
		SweepInterval: 10 * time.Millisecond,
		SweepPolicy:   ckpt.Policy{KeepLast: 2},
		OnSweep: func(st ckpt.GCStats, err error) {
			if closed.Load() {
				late.Add(1)
			}
			reports <- report{st, err}
		},
	})
	cfgs := chain(t, s, "t", "", times(time.Now(), 6))
	deadline := time.After(30 * time.Second) // a hang, not a timing threshold
	removed := 0
	for removed < 4 {
		select {
		case r := <-reports:
			if r.err != nil {
				t.Fatal(r.err)
			}
			removed += r.st.Checkpoints
		case <-deadline:
			t.Fatalf("the sweeper removed %d checkpoints in 30 s", removed)
		}
	}
	if got := ids(t, s, "t", ""); !slices.Equal(got, idsOf(cfgs[4:])) {
		t.Fatalf("after sweeps: %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	time.Sleep(50 * time.Millisecond) // five intervals: a running sweeper would report
	if n := late.Load(); n != 0 {
		t.Fatalf("the sweeper reported %d times after Close", n)
	}
}

func TestRetentionAfterCloseIsErrClosed(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, ckpt.Options{})
	chain(t, s, "t", "", times(time.Now(), 3))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, gcErr := s.GC(ctx, ckpt.Policy{KeepLast: 1})
	_, compactErr := s.Compact(ctx, nil)
	for name, err := range map[string]error{
		"GC":            gcErr,
		"Compact":       compactErr,
		"Prune":         s.Prune(ctx, []string{"t"}, ckpt.PruneKeepLatest),
		"DeleteForRuns": s.DeleteForRuns(ctx, []string{"r"}),
		"CopyThread":    s.CopyThread(ctx, "t", "u", ckpt.CopyOptions{}),
	} {
		if !errors.Is(err, ckpt.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// openCopy opens a copy of the (closed) store file at path.
func openCopy(t *testing.T, path string) *ckpt.Store {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(cp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := ckpt.Open(cp, ckpt.Options{Durability: ckpt.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// cancelAfter is a context whose Err turns to Canceled after n calls: it
// interrupts a GC at a deterministic point.
type cancelAfter struct {
	context.Context
	n atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestGCInterruptedLeavesConsistentStoreAndResumes(t *testing.T) {
	t.Parallel()
	const threads, steps, keep = 30, 60, 2 // about 11,000 keys: two transactions
	base, basePath := openTemp(t, ckpt.Options{Durability: ckpt.NoSync})
	now := time.Now()
	for i := range threads {
		chain(t, base, fmt.Sprint("t", i), "", times(now, steps))
	}
	if err := base.Close(); err != nil {
		t.Fatal(err)
	}
	fill := func(t *testing.T) *ckpt.Store { return openCopy(t, basePath) }
	// Count the context checks of a whole run, then interrupt runs at
	// points spread over it (planning, between transactions, the end).
	c := &cancelAfter{Context: ctx}
	c.n.Store(1 << 40)
	if _, err := fill(t).GC(c, ckpt.Policy{KeepLast: keep}); err != nil {
		t.Fatal(err)
	}
	total := 1<<40 - c.n.Load()
	for _, at := range []int64{1, total / 3, total - 4, total - 2, total - 1} {
		t.Run(fmt.Sprint(at, "/", total), func(t *testing.T) {
			s := fill(t)
			c := &cancelAfter{Context: ctx}
			c.n.Store(at)
			first, err := s.GC(c, ckpt.Policy{KeepLast: keep})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted GC: %+v, %v", first, err)
			}
			checkConsistent(t, s)
			rest, err := s.GC(ctx, ckpt.Policy{KeepLast: keep})
			if err != nil {
				t.Fatal(err)
			}
			if got := first.Checkpoints + rest.Checkpoints; got != threads*(steps-keep) {
				t.Fatalf("removed %d + %d checkpoints, want %d in all", first.Checkpoints, rest.Checkpoints, threads*(steps-keep))
			}
			for i := range threads {
				if n := len(ids(t, s, fmt.Sprint("t", i), "")); n != keep {
					t.Fatalf("thread %d holds %d", i, n)
				}
			}
			checkInvariants(t, s)
			t.Logf("interrupted after removing %d checkpoints", first.Checkpoints)
		})
	}
}
