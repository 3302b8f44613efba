package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// helper-160's property test of the reads a group makes through the
// groups in flight (addOps: the open group's tree over each flight's
// tree, over shared, over bbolt). Each round holds the syncer's fsync of
// one group of random changes (a flight), builds the next group op by op
// on top of it (random puts, deletes, bucket drops and re-creations,
// sequences, an op that fails after changing things), and every op
// compares all it can read (Get, Has, Exists, Sequence, Scan forward and
// backward with prefixes and starts, Buckets) with a model, before and
// after its own changes. Every few rounds the store is closed (bbolt takes
// everything) and reopened, so the chain also reads keys bbolt holds.
// CKPT_H160_SEED and CKPT_H160_ROUNDS run it long.

// h160Model is the store's content under the root bucket r: bucket path
// ("a", "a/n", ...) to its keys and sequence.
type h160Model map[string]*h160Bucket

type h160Bucket struct {
	keys map[string]string
	seq  uint64
}

func (m h160Model) clone() h160Model {
	out := make(h160Model, len(m))
	for p, b := range m {
		out[p] = &h160Bucket{keys: maps.Clone(b.keys), seq: b.seq}
	}
	return out
}

// ensure creates the buckets on p, as Put and NextSeq do.
func (m h160Model) ensure(p string) *h160Bucket {
	parts := strings.Split(p, "/")
	for i := 1; i <= len(parts); i++ {
		q := strings.Join(parts[:i], "/")
		if m[q] == nil {
			m[q] = &h160Bucket{keys: map[string]string{}}
		}
	}
	return m[p]
}

func (m h160Model) drop(p string) {
	for q := range m {
		if q == p || strings.HasPrefix(q, p+"/") {
			delete(m, q)
		}
	}
}

var (
	h160Paths = []string{"a", "a/n", "a/n/m", "b", "b/n"}
	h160Keys  = []string{"k0", "k1", "k10", "k11", "k2", "k3", "k30", "k4"}
	h160Root  = []byte("r")
)

func h160Path(p string) Path {
	out := Path{h160Root}
	for _, s := range strings.Split(p, "/") {
		out = append(out, []byte(s))
	}
	return out
}

// h160Check compares everything r reads under the root with m, and
// returns the first difference ("" if none).
func h160Check(r Reader, m h160Model) string {
	for _, p := range h160Paths {
		path := h160Path(p)
		b := m[p]
		if got := r.Exists(path); got != (b != nil) {
			return fmt.Sprintf("Exists(%s) = %v, want %v", p, got, b != nil)
		}
		var wantSeq uint64
		if b != nil {
			wantSeq = b.seq
		}
		if got := r.Sequence(path); got != wantSeq {
			return fmt.Sprintf("Sequence(%s) = %d, want %d", p, got, wantSeq)
		}
		var keys []string
		if b != nil {
			keys = slices.Sorted(maps.Keys(b.keys))
		}
		for _, k := range h160Keys {
			want, ok := "", false
			if b != nil {
				want, ok = b.keys[k]
			}
			if got := r.Get(path, []byte(k)); string(got) != want || (got == nil) == ok {
				return fmt.Sprintf("Get(%s, %s) = %q, want %q (present %v)", p, k, got, want, ok)
			}
			if got := r.Has(path, []byte(k)); got != ok {
				return fmt.Sprintf("Has(%s, %s) = %v, want %v", p, k, got, ok)
			}
		}
		// Scans: whole, by prefix, from each start, both ways.
		for _, prefix := range []string{"", "k1", "k3", "k9"} {
			for _, start := range append([]string{""}, h160Keys...) {
				for _, reverse := range []bool{false, true} {
					var want []string
					for _, k := range keys {
						if !strings.HasPrefix(k, prefix) {
							continue
						}
						if start != "" && (!reverse && k < start || reverse && k >= start) {
							continue
						}
						want = append(want, k+"="+b.keys[k])
					}
					if reverse {
						slices.Reverse(want)
					}
					var got []string
					var st []byte
					if start != "" {
						st = []byte(start)
					}
					_ = r.Scan(path, []byte(prefix), st, reverse, func(k, v []byte) error {
						got = append(got, string(k)+"="+string(v))
						return nil
					})
					if !slices.Equal(got, want) {
						return fmt.Sprintf("Scan(%s, prefix %q, start %q, reverse %v) = %q, want %q", p, prefix, start, reverse, got, want)
					}
				}
			}
		}
	}
	// Nested buckets, from the root down.
	for _, p := range append([]string{""}, h160Paths...) {
		var path Path
		if p == "" {
			path = Path{h160Root}
		} else {
			if m[p] == nil {
				continue
			}
			path = h160Path(p)
		}
		var want []string
		for q := range m {
			parent, name := "", q
			if i := strings.LastIndexByte(q, '/'); i >= 0 {
				parent, name = q[:i], q[i+1:]
			}
			if parent == p {
				want = append(want, name)
			}
		}
		slices.Sort(want)
		var got []string
		_ = r.Buckets(path, nil, func(name []byte) error {
			got = append(got, string(name))
			return nil
		})
		if !slices.Equal(got, want) {
			return fmt.Sprintf("Buckets(%q) = %q, want %q", p, got, want)
		}
	}
	return ""
}

// h160InSyncer tells whether the caller runs in the syncer's goroutine.
func h160InSyncer() bool {
	buf := make([]byte, 64<<10)
	return bytes.Contains(buf[:runtime.Stack(buf, false)], []byte("(*syncer).run"))
}

var (
	errH160Fail = errors.New("h160: the op fails after its changes")
	errH160Sync = errors.New("h160: the log's fsync fails")
)

// h160Op returns an op of n random changes to the model (checked before
// and after them through the op's writer), and whether it fails at its
// end (taken back: the model stays). The model is m's; the op replaces
// *m with its result when it succeeds. A difference is stored in bad.
// h160OpenGroup sends round's open group, 2-9 random ops (about one in
// three NoSync), one at a time: each is applied before the next is sent,
// so each reads through the flight held in its fsync and the ops before
// it. It returns them, sent.
func h160OpenGroup(rng *rand.Rand, m *h160Model, round int, bad *atomic.Value, send func(op *Op, noSync bool) *Op) []*Op {
	var ops []*Op
	for i := range 2 + rng.IntN(8) {
		applied := make(chan struct{})
		op := h160Op(rng, m, fmt.Sprintf("r%d.b%d", round, i), false, bad)
		apply := op.Apply
		op.Apply = func(w Writer) error { defer close(applied); return apply(w) }
		ops = append(ops, send(op, rng.IntN(3) == 0))
		<-applied
	}
	return ops
}

func h160Op(rng *rand.Rand, m *h160Model, tag string, held bool, bad *atomic.Value) *Op {
	type change struct {
		kind    int
		path    string
		key, vl string
	}
	n := 1 + rng.IntN(6)
	changes := make([]change, n)
	for i := range changes {
		c := change{kind: rng.IntN(10), path: h160Paths[rng.IntN(len(h160Paths))],
			key: h160Keys[rng.IntN(len(h160Keys))], vl: fmt.Sprintf("%s.%d", tag, i)}
		changes[i] = c
	}
	fails := rng.IntN(8) == 0
	if held {
		// The held group must be logged (and fsync'd): it changes
		// something and does not fail.
		changes[n-1].kind, fails = 0, false
	}
	return &Op{Apply: func(w Writer) error {
		next := m.clone()
		if d := h160Check(w, next); d != "" {
			bad.CompareAndSwap(nil, "before "+tag+": "+d)
		}
		for _, c := range changes {
			path := h160Path(c.path)
			var err error
			switch {
			case c.kind < 5:
				err = w.Put(path, []byte(c.key), []byte(c.vl))
				next.ensure(c.path).keys[c.key] = c.vl
			case c.kind < 8:
				err = w.Del(path, []byte(c.key))
				if b := next[c.path]; b != nil {
					delete(b.keys, c.key)
				}
			case c.kind == 8:
				err = w.DropBucket(path)
				next.drop(c.path)
			default:
				var got uint64
				got, err = w.NextSeq(path)
				b := next.ensure(c.path)
				b.seq++
				if got != b.seq && err == nil {
					bad.CompareAndSwap(nil, fmt.Sprintf("%s: NextSeq(%s) = %d, want %d", tag, c.path, got, b.seq))
				}
			}
			if err != nil {
				bad.CompareAndSwap(nil, fmt.Sprintf("%s: %v", tag, err))
				return err
			}
		}
		if d := h160Check(w, next); d != "" {
			bad.CompareAndSwap(nil, "after "+tag+": "+d)
		}
		if fails {
			return errH160Fail
		}
		*m = next
		return nil
	}}
}

func TestH160FlightChainReadsMatchAModel(t *testing.T) {
	t.Parallel()
	seed, rounds := uint64(160), 40
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H160_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("CKPT_H160_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	t.Logf("CKPT_H160_SEED=%d CKPT_H160_ROUNDS=%d", seed, rounds)
	rng := rand.New(rand.NewPCG(seed, 160))
	path := filepath.Join(t.TempDir(), "chain.db")
	// The syncer's fsync, once hold is set, signals inSync and waits for
	// release (a fresh channel per round).
	var hold, failSync atomic.Bool
	inSync := make(chan struct{}, 1)
	var relMu sync.Mutex
	release := make(chan struct{})
	open := func() *Engine {
		return openSyncHook(t, path, func(f *os.File) error {
			// Only the syncer's fsync is held: the commit loop's own (the
			// log's growth, a new pass's cleared head) would keep the
			// groups from being built, a hang.
			if h160InSyncer() && hold.CompareAndSwap(true, false) {
				relMu.Lock()
				rel := release
				relMu.Unlock()
				inSync <- struct{}{}
				<-rel
				if failSync.Load() {
					return errH160Sync
				}
			}
			return Fdatasync(f)
		})
	}
	e := open()
	defer func() { e.Close() }()
	// The root, and a first record (the log's growth is fsync'd in the
	// commit loop: openHeldFsync).
	if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(Path{h160Root}, []byte("root"), []byte("1")) }}); err != nil {
		t.Fatal(err)
	}
	model := h160Model{}
	var bad atomic.Value
	send := func(op *Op, noSync bool) *Op {
		op.Ctx, op.Done, op.NoSync = context.Background(), make(chan error, 1), noSync
		if err := e.Send(op.Ctx, op); err != nil {
			t.Fatal(err)
		}
		return op
	}
	wantErr := func(op *Op, err error, what string) {
		t.Helper()
		if err != nil && !errors.Is(err, errH160Fail) {
			t.Fatalf("seed %d: %s: %v", seed, what, err)
		}
	}
	for round := range rounds {
		relMu.Lock()
		release = make(chan struct{})
		rel := sync.OnceFunc(func() { close(release) })
		relMu.Unlock()
		hold.Store(true)
		// Some rounds the held fsync fails: the flight and every op of
		// the group built on it fail, and none of them shows up later.
		fails := rng.IntN(8) == 0
		failSync.Store(fails)
		before := model.clone()
		// The flight: a Sync group of random changes, held in its fsync.
		a := send(h160Op(rng, &model, fmt.Sprintf("r%d.a", round), true, &bad), false)
		<-inSync
		// The open group, op by op, over the flight.
		ops := h160OpenGroup(rng, &model, round, &bad, send)
		rel()
		if fails {
			for i, op := range append([]*Op{a}, ops...) {
				if err := <-op.Done; err == nil {
					t.Fatalf("seed %d round %d: op %d (0: the held one) succeeded, its fsync failed", seed, round, i)
				}
			}
			if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(Path{h160Root}, []byte("after"), []byte("1")) }}); err == nil {
				t.Fatalf("seed %d round %d: a write after the failed fsync succeeded", seed, round)
			}
			model = before
			_ = e.Close() // the store failed: Close says so
			failSync.Store(false)
			e = open()
			var d string
			if err := e.View(context.Background(), func(r Reader) error { d = h160Check(r, model); return nil }); err != nil {
				t.Fatal(err)
			}
			if d != "" {
				t.Fatalf("seed %d round %d, reopened after a failed fsync: %s", seed, round, d)
			}
			continue
		}
		wantErr(a, <-a.Done, "the held group")
		for _, op := range ops {
			wantErr(op, <-op.Done, "a group built on the held one")
		}
		if d, _ := bad.Load().(string); d != "" {
			t.Fatalf("seed %d round %d (replay: CKPT_H160_SEED=%d CKPT_H160_ROUNDS=%d): %s", seed, round, seed, round+1, d)
		}
		// Readers see the model once every group finished.
		var d string
		if err := e.View(context.Background(), func(r Reader) error { d = h160Check(r, model); return nil }); err != nil {
			t.Fatal(err)
		}
		if d != "" {
			t.Fatalf("seed %d round %d, a reader after the groups finished: %s", seed, round, d)
		}
		if rng.IntN(5) == 0 {
			// bbolt takes everything: the next rounds read it below.
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
			e = open()
			if err := e.View(context.Background(), func(r Reader) error { d = h160Check(r, model); return nil }); err != nil {
				t.Fatal(err)
			}
			if d != "" {
				t.Fatalf("seed %d round %d, after a reopen: %s", seed, round, d)
			}
		}
	}
}

// h160Dump is everything r holds under the root, as one string.
func h160Dump(r Reader) string {
	var sb strings.Builder
	for _, p := range h160Paths {
		path := h160Path(p)
		if !r.Exists(path) {
			continue
		}
		fmt.Fprintf(&sb, "[%s seq %d]", p, r.Sequence(path))
		_ = r.Scan(path, nil, nil, false, func(k, v []byte) error {
			fmt.Fprintf(&sb, " %s=%s", k, v)
			return nil
		})
	}
	return sb.String()
}

// h160ModelDump is h160Dump of m.
func h160ModelDump(m h160Model) string {
	var sb strings.Builder
	for _, p := range h160Paths {
		b := m[p]
		if b == nil {
			continue
		}
		fmt.Fprintf(&sb, "[%s seq %d]", p, b.seq)
		for _, k := range slices.Sorted(maps.Keys(b.keys)) {
			fmt.Fprintf(&sb, " %s=%s", k, b.keys[k])
		}
	}
	return sb.String()
}

// TestH160ReadersSeeWholeGroupsWhileFlightsAreBuilt: readers read the
// store without pause while the groups of TestH160FlightChainReadsMatchAModel
// are built on a held one and finish: each reads a state some group left
// (a group whole, never part of one, never one of a group in flight), and
// under -race no reader shares what the commit loop writes (the lookups'
// path hints, the trees' bucket-state caches).
func TestH160ReadersSeeWholeGroupsWhileFlightsAreBuilt(t *testing.T) {
	t.Parallel()
	seed, rounds := uint64(1600), 30
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H160_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("CKPT_H160_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	rng := rand.New(rand.NewPCG(seed, 1601))
	var hold atomic.Bool
	inSync := make(chan struct{}, 1)
	var relMu sync.Mutex
	release := make(chan struct{})
	e := openSyncHook(t, filepath.Join(t.TempDir(), "readers.db"), func(f *os.File) error {
		if h160InSyncer() && hold.CompareAndSwap(true, false) {
			relMu.Lock()
			rel := release
			relMu.Unlock()
			inSync <- struct{}{}
			<-rel
		}
		return Fdatasync(f)
	})
	defer e.Close()
	if err := do(e, &Op{Apply: func(w Writer) error { return w.Put(Path{h160Root}, []byte("root"), []byte("1")) }}); err != nil {
		t.Fatal(err)
	}
	model := h160Model{}
	var bad atomic.Value
	// What readers saw, checked at each round's end against the states
	// the groups left.
	var seenMu sync.Mutex
	seen := map[string]bool{}
	allowed := map[string]bool{h160ModelDump(model): true}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				var d string
				if err := e.View(context.Background(), func(r Reader) error { d = h160Dump(r); return nil }); err != nil {
					bad.CompareAndSwap(nil, fmt.Sprintf("a reader: %v", err))
					return
				}
				seenMu.Lock()
				seen[d] = true
				seenMu.Unlock()
			}
		})
	}
	defer func() { close(stop); readers.Wait() }()
	send := func(op *Op, noSync bool) *Op {
		op.Ctx, op.Done, op.NoSync = context.Background(), make(chan error, 1), noSync
		if err := e.Send(op.Ctx, op); err != nil {
			t.Fatal(err)
		}
		return op
	}
	for round := range rounds {
		relMu.Lock()
		release = make(chan struct{})
		rel := sync.OnceFunc(func() { close(release) })
		relMu.Unlock()
		hold.Store(true)
		a := send(h160Op(rng, &model, fmt.Sprintf("r%d.a", round), true, &bad), false)
		<-inSync
		seenMu.Lock()
		allowed[h160ModelDump(model)] = true // a's Apply ended before its fsync
		seenMu.Unlock()
		ops := h160OpenGroup(rng, &model, round, &bad, send)
		rel()
		for _, op := range append([]*Op{a}, ops...) {
			if err := <-op.Done; err != nil && !errors.Is(err, errH160Fail) {
				t.Fatalf("seed %d round %d: %v", seed, round, err)
			}
		}
		if d, _ := bad.Load().(string); d != "" {
			t.Fatalf("seed %d round %d: %s", seed, round, d)
		}
		seenMu.Lock()
		allowed[h160ModelDump(model)] = true
		for d := range seen {
			if !allowed[d] {
				seenMu.Unlock()
				t.Fatalf("seed %d round %d: a reader saw a state no group left: %s\nthe last: %s", seed, round, d, h160ModelDump(model))
			}
		}
		clear(seen)
		seenMu.Unlock()
	}
}
