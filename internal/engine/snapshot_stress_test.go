package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A stress of what readers see while the commit loop changes the shared
// overlay (Snapshots.Change/Publish, the freeze on a reader's first load)
// and reuses its writer, views and slabs from group to group, with the
// applier pruning, solo ops applying everything, Compact swapping the
// file and, in some rounds, the log's fsync failing at a random call.
//
// Each writer owns a bucket w<i> with keys a, b and sub/c. Its step k is
// one op that writes the same value to all three: k and the steps of the
// other writers acknowledged when step k began. Every few steps the op
// drops the bucket first and writes it again, or deletes and rewrites b.
// Between two steps, a writer sends an op that writes "BAD" and fails
// (half-way, or cancelled before it runs): it must never show.
//
// A read (one snapshot) must show, for each writer, the three keys equal
// (no half op), a step between the one acknowledged before the read began
// and the one begun before it ended, never a failed step, never older than
// this reader's previous read (snapshots only go forward), and the other
// writers at least at the steps the value says were acknowledged before
// it (a state that existed: no mix of times). Each op also reads its
// writer's last successful value through the commit loop's chain of views
// (scratch, the flights' trees, shared, bbolt) and fails with errLoopRead
// otherwise.
func TestSnapshotStress(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("stress")
	}
	// failAt: the fsync call that fails (0: none). noSync: every writer
	// NoSync, so that groups merge at once, thousands of them, with no
	// fsync to wait for.
	rounds := []struct {
		failAt int64
		noSync bool
	}{{0, true}, {0, false}, {3, false}, {9, false}, {17, false}, {30, false}}
	for _, r := range rounds {
		t.Run(fmt.Sprintf("failAt%d/noSync=%v", r.failAt, r.noSync), func(t *testing.T) {
			snapshotStressRound(t, r.failAt, r.noSync, 1500*time.Millisecond)
		})
	}
}

var (
	errLoopRead = errors.New("the commit loop read a wrong value")
	errHalf     = errors.New("a failure half-way")
)

type stressWriter struct {
	i       int
	started atomic.Int64 // the last step begun
	acked   atomic.Int64 // the last step acknowledged
	failed  sync.Map     // steps whose op returned an error
	last    []byte       // the value of the last successful step (the writer's own)
}

func stressPath(i int) (Path, Path) {
	w := []byte("w" + strconv.Itoa(i))
	return Path{w}, Path{w, []byte("sub")}
}

// stressValue is step k of a writer and the steps of every writer
// acknowledged before it began.
func stressValue(k int64, deps []int64) []byte {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(k, 10))
	for _, d := range deps {
		b.WriteByte(',')
		b.WriteString(strconv.FormatInt(d, 10))
	}
	return []byte(b.String())
}

func parseStressValue(v []byte) (int64, []int64, error) {
	parts := strings.Split(string(v), ",")
	k, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("value %q: %w", v, err)
	}
	deps := make([]int64, len(parts)-1)
	for j, p := range parts[1:] {
		if deps[j], err = strconv.ParseInt(p, 10, 64); err != nil {
			return 0, nil, fmt.Errorf("value %q: %w", v, err)
		}
	}
	return k, deps, nil
}

func snapshotStressRound(t *testing.T, failAt int64, allNoSync bool, dur time.Duration) {
	const nWriters, nReaders = 6, 4
	cause := errors.New("disk on fire")
	var syncCalls atomic.Int64
	// late: the failing fsync came once the writers had stopped (Close
	// makes the log durable before it applies the NoSync groups left):
	// no write waits for it.
	var writing, late atomic.Bool
	writing.Store(true)
	path := filepath.Join(t.TempDir(), "s.db")
	opts := Options{
		Bolt:     bolt.Options{Timeout: time.Minute},
		LogPath:  path + "-wal",
		Mark:     Mark{Path: Path{[]byte("meta")}, Key: []byte("applied")},
		Observer: nopObserver{},
		Hooks: Hooks{SyncLog: func(f *os.File) error {
			if n := syncCalls.Add(1); failAt > 0 && n == failAt {
				late.Store(!writing.Load())
				return cause
			}
			return Fdatasync(f)
		}},
	}
	e, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = e.Close()
		}
	}()
	ws := make([]*stressWriter, nWriters)
	for i := range ws {
		ws[i] = &stressWriter{i: i}
	}
	var failures atomic.Int64
	var violation sync.Once
	fail := func(format string, args ...any) {
		failures.Add(1)
		violation.Do(func() { t.Errorf(format, args...) })
	}
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var storeFailed atomic.Bool
	var writers, others sync.WaitGroup
	for _, w := range ws {
		writers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w.i), uint64(failAt)))
			p, sub := stressPath(w.i)
			noSync := allNoSync || w.i%3 != 0 // NoSync groups merge at once
			for k := int64(1); !stopped() && !storeFailed.Load(); k++ {
				w.started.Store(k)
				deps := make([]int64, nWriters)
				for j, o := range ws {
					deps[j] = o.acked.Load()
				}
				val := stressValue(k, deps)
				want := w.last
				shape := rng.IntN(6)
				op := &Op{Ctx: context.Background(), NoSync: noSync, Apply: func(tw Writer) error {
					// The op reads its writer's last value through the
					// loop's views first.
					if got := tw.Get(p, []byte("a")); string(got) != string(want) {
						return fmt.Errorf("%w: %s/a = %q, want %q", errLoopRead, p[0], got, want)
					}
					if got := tw.Get(sub, []byte("c")); string(got) != string(want) {
						return fmt.Errorf("%w: %s/sub/c = %q, want %q", errLoopRead, p[0], got, want)
					}
					if want != nil && !tw.Has(p, []byte("b")) {
						return fmt.Errorf("%w: %s/b missing", errLoopRead, p[0])
					}
					// And a scan: an iterator over shared while readers
					// freeze it.
					var scanned []string
					_ = tw.Scan(p, nil, nil, false, func(k, v []byte) error {
						scanned = append(scanned, string(k)+"="+string(v))
						return nil
					})
					if want != nil && (len(scanned) != 2 || scanned[0] != "a="+string(want) || scanned[1] != "b="+string(want)) {
						return fmt.Errorf("%w: a scan of %s shows %q, want a and b = %q", errLoopRead, p[0], scanned, want)
					}
					switch shape {
					case 0:
						if err := tw.DropBucket(p); err != nil {
							return err
						}
					case 1:
						if err := tw.Del(p, []byte("b")); err != nil {
							return err
						}
					}
					for _, kv := range []struct {
						p Path
						k string
					}{{p, "a"}, {p, "b"}, {sub, "c"}} {
						if err := tw.Put(kv.p, []byte(kv.k), val); err != nil {
							return err
						}
					}
					return nil
				}}
				err := do(e, op)
				switch {
				case err == nil:
					w.last = val
					w.acked.Store(k)
				case errors.Is(err, errLoopRead):
					fail("writer %d step %d: %v", w.i, k, err)
					w.failed.Store(k, true)
					return
				default:
					w.failed.Store(k, true)
					if !errors.Is(err, ErrFailed) {
						fail("writer %d step %d: %v, want ErrFailed", w.i, k, err)
					}
					if failAt == 0 {
						fail("writer %d step %d failed with no fsync failure: %v", w.i, k, err)
					}
					storeFailed.Store(true)
					return
				}
				// A failing op: half-way, or cancelled before it runs.
				if rng.IntN(4) == 0 {
					ctx := context.Background()
					var cancel context.CancelFunc
					if rng.IntN(2) == 0 {
						ctx, cancel = context.WithCancel(ctx)
					}
					bad := &Op{Ctx: ctx, NoSync: noSync, Apply: func(tw Writer) error {
						if err := tw.Put(p, []byte("a"), []byte("BAD")); err != nil {
							return err
						}
						if err := tw.DropBucket(sub); err != nil {
							return err
						}
						return errHalf
					}}
					bad.Done = make(chan error, 1)
					if err := e.Send(ctx, bad); err == nil {
						if cancel != nil {
							cancel()
						}
						if err := <-bad.Done; err == nil {
							fail("writer %d: the failing op succeeded", w.i)
						}
					}
					if cancel != nil {
						cancel()
					}
				}
			}
		})
	}
	var reads atomic.Int64
	for r := range nReaders {
		others.Go(func() {
			prev := make([]int64, nWriters)
			for !stopped() {
				acked := make([]int64, nWriters)
				for j, w := range ws {
					acked[j] = w.acked.Load()
				}
				shown := make([]int64, nWriters)
				depsOf := make([][]int64, nWriters)
				err := e.View(context.Background(), func(rd Reader) error {
					for j := range ws {
						p, sub := stressPath(j)
						a, b, c := rd.Get(p, []byte("a")), rd.Get(p, []byte("b")), rd.Get(sub, []byte("c"))
						if r%2 == 1 { // a scan instead of point reads
							b = nil
							_ = rd.Scan(p, []byte("b"), nil, false, func(k, v []byte) error {
								b = append([]byte(nil), v...)
								return ErrStop
							})
						}
						if a == nil && b == nil && c == nil {
							shown[j] = 0
							continue
						}
						if string(a) != string(b) || string(a) != string(c) {
							return fmt.Errorf("writer %d: a %q, b %q, sub/c %q (half an op)", j, a, b, c)
						}
						k, deps, err := parseStressValue(a)
						if err != nil {
							return err
						}
						shown[j], depsOf[j] = k, deps
					}
					return nil
				})
				if err != nil {
					fail("reader %d: %v", r, err)
					return
				}
				for j, w := range ws {
					started := w.started.Load()
					k := shown[j]
					if k < acked[j] || k > started {
						fail("reader %d: writer %d at step %d, want one of %d..%d", r, j, k, acked[j], started)
						return
					}
					if k < prev[j] {
						fail("reader %d: writer %d went back from step %d to %d", r, j, prev[j], k)
						return
					}
					if _, bad := w.failed.Load(k); bad {
						// A step fails only once, after which its writer
						// stops: it was readable before or after its error.
						fail("reader %d: writer %d's failed step %d is readable", r, j, k)
						return
					}
					for o, d := range depsOf[j] {
						if shown[o] < d {
							fail("reader %d: writer %d's step %d came after writer %d's step %d, shown at %d (a mix of states)", r, j, k, o, d, shown[o])
							return
						}
					}
				}
				copy(prev, shown)
				reads.Add(1)
			}
		})
	}
	// Solo ops (apply everything: a prune) and Compact's swap.
	others.Go(func() {
		for i := 0; !stopped(); i++ {
			solo := func() error { return nil }
			if i%4 == 3 {
				// Compact runs as a solo op (as the root's Compact does).
				solo = func() error { _, err := e.Compact(context.Background(), nil); return err }
			}
			_ = do(e, &Op{Solo: solo})
			time.Sleep(40 * time.Millisecond)
		}
	})
	time.Sleep(dur)
	close(stop)
	writers.Wait()
	others.Wait()
	writing.Store(false)
	if failures.Load() > 0 {
		return
	}
	if failAt > 0 && !storeFailed.Load() && syncCalls.Load() >= failAt && !late.Load() {
		// The failed fsync came after every writer's last step (a solo
		// op's, the applier's, or one of NoSync groups acknowledged
		// before it, the writers stopping right then: seen once in a
		// loaded run): no writer was left to see it, but the store has
		// failed, so the next write must.
		err := do(e, &Op{Ctx: context.Background(), Apply: func(tw Writer) error {
			return tw.Put(Path{[]byte("after")}, []byte("k"), []byte("v"))
		}})
		if !errors.Is(err, ErrFailed) {
			t.Errorf("fsync call %d failed but no write did, and a write after it: %v, want ErrFailed", failAt, err)
		}
		storeFailed.Store(true)
	}
	if reads.Load() < 10 {
		t.Errorf("only %d reads", reads.Load())
	}
	// Failed steps are never readable, acknowledged ones always are: now,
	// and after a reopen.
	check := func(e *Engine, when string) {
		t.Helper()
		err := e.View(context.Background(), func(rd Reader) error {
			for j, w := range ws {
				p, _ := stressPath(j)
				a := rd.Get(p, []byte("a"))
				var k int64
				if a != nil {
					var err error
					if k, _, err = parseStressValue(a); err != nil {
						return err
					}
				}
				if string(a) != string(w.last) {
					return fmt.Errorf("writer %d at %q (step %d), want its last acknowledged %q", j, a, k, w.last)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	check(e, "before close")
	closed = true
	_ = e.Close()
	opts.Hooks = Hooks{}
	r, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	check(r, "reopened")
	var steps int64
	for _, w := range ws {
		steps += w.acked.Load()
	}
	t.Logf("fsync fails at %d of %d; %d steps acknowledged, %d reads", failAt, syncCalls.Load(), steps, reads.Load())
}
