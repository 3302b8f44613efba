package ckpt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/ckpt-go/ckpt/internal/engine"
	bolt "go.etcd.io/bbolt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// h226NthCtx is a context that ends (Canceled, Done closed) at its n-th
// look (a call of Err or Done): a sweep over n stops a call at every
// point where it looks at its context, one point per run. With onFire
// set, it runs that at the n-th look instead (a Close from another
// goroutine), and ends only when the test cancels it.
type h226NthCtx struct {
	context.Context
	cancel context.CancelFunc
	onFire func()
	left   atomic.Int64
	fired  atomic.Bool
}

var h226bg = context.Background()

func newH226NthCtx(parent context.Context, n int) *h226NthCtx {
	c := &h226NthCtx{}
	c.Context, c.cancel = context.WithCancel(parent)
	c.left.Store(int64(n))
	return c
}

func (c *h226NthCtx) tick() {
	if c.left.Add(-1) < 0 && !c.fired.Swap(true) {
		if c.onFire != nil {
			c.onFire()
			return
		}
		c.cancel()
	}
}

func (c *h226NthCtx) Err() error {
	c.tick()
	return c.Context.Err()
}

func (c *h226NthCtx) Done() <-chan struct{} {
	c.tick()
	return c.Context.Done()
}

// h226Op is one write operation of the sweep: run does it on s with ctx;
// check, after a nil, says whether s holds its effect (beyond the dump
// comparison, for a write whose id the store draws).
type h226Op struct {
	name string
	// exact: a nil leaves the dump a run with a live ctx leaves (the
	// write draws no id or time of its own).
	exact bool
	run   func(h226bg context.Context, s *Store) (any, error)
	check func(s *Store, out any) error
}

// h226Base builds the store every case starts from and returns its path
// (closed) and a dump to import.
func h226Base(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "base.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, th := range []string{"a", "b", "c"} {
		for step := range 4 {
			if _, err := s.Save(h226bg, th, map[string]any{"step": step, "pad": bytes.Repeat([]byte{byte(step)}, 100)}, Metadata{"step": step, "run_id": fmt.Sprint("run-", th, step%2)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A namespace with pending writes.
	cfg, err := s.Put(h226bg, Config{ThreadID: "a", CheckpointNS: "sub"}, Checkpoint{V: 4, ID: "01J00000000000000000000001", TS: ts,
		ChannelValues: map[string]any{"x": 1}, ChannelVersions: map[string]string{"x": "1"}}, Metadata{"step": 0}, map[string]string{"x": "1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutWrites(h226bg, cfg, []Write{{Channel: "x", Value: 2}}, "task0", "p0"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := Open(filepath.Join(dir, "src.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for step := range 3 {
		if _, err := src.Save(h226bg, "imp", map[string]any{"step": step}, Metadata{"step": step}); err != nil {
			t.Fatal(err)
		}
	}
	var dump bytes.Buffer
	if _, err := src.Export(h226bg, &dump, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	return path, dump.Bytes()
}

func h226Ops(dump []byte) []h226Op {
	ts := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	return []h226Op{
		{name: "save", run: func(c context.Context, s *Store) (any, error) {
			return s.Save(c, "a", map[string]any{"step": 99}, Metadata{"step": 99})
		}, check: func(s *Store, out any) error {
			snap, err := s.Load(h226bg, "a", out.(string))
			if err != nil {
				return err
			}
			var step int
			if err := snap.Decode("step", &step); err != nil || step != 99 {
				return fmt.Errorf("step %d, %v", step, err)
			}
			return nil
		}},
		{name: "save-new-thread", run: func(c context.Context, s *Store) (any, error) {
			return s.Save(c, "new", map[string]any{"step": 1}, nil)
		}, check: func(s *Store, out any) error {
			_, err := s.Load(h226bg, "new", out.(string))
			return err
		}},
		{name: "put", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return s.Put(c, Config{ThreadID: "b"}, Checkpoint{V: 4, ID: "01J00000000000000000000009", TS: ts,
				ChannelValues: map[string]any{"y": "v"}, ChannelVersions: map[string]string{"y": "7"}}, Metadata{"k": 1}, map[string]string{"y": "7"})
		}},
		{name: "putfull", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return s.PutFull(c, Config{ThreadID: "c", CheckpointNS: "n"}, Checkpoint{V: 4, ID: "01J0000000000000000000000A", TS: ts,
				ChannelValues: map[string]any{"y": "w"}, ChannelVersions: map[string]string{"y": "8"}}, Metadata{"k": 2}, map[string]string{"y": "8"},
				[]TaskWrites{{TaskID: "t1", TaskPath: "p", Writes: []Write{{Channel: "y", Value: 3}, {Channel: ChannelError, Value: "boom"}}}})
		}},
		{name: "putwrites", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return nil, s.PutWrites(c, Config{ThreadID: "a", CheckpointNS: "sub", CheckpointID: "01J00000000000000000000001"},
				[]Write{{Channel: "x", Value: 5}, {Channel: ChannelInterrupt, Value: "i"}}, "task1", "p1")
		}},
		{name: "deletethread", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return nil, s.DeleteThread(c, "b")
		}},
		{name: "copythread", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return nil, s.CopyThread(c, "a", "a2", CopyOptions{})
		}},
		{name: "copythread-replace", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return nil, s.CopyThread(c, "a", "c", CopyOptions{Replace: true})
		}},
		{name: "import", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return s.Import(c, bytes.NewReader(dump), ImportOptions{})
		}},
		// Prune and DeleteForRuns may leave part of their work done when
		// they fail (documented); here each fits one transaction.
		{name: "prune-keeplatest", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return nil, s.Prune(c, []string{"a"}, PruneKeepLatest)
		}},
		{name: "prune-delete", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return nil, s.Prune(c, []string{"c"}, PruneDelete)
		}},
		{name: "deleteforruns", exact: true, run: func(c context.Context, s *Store) (any, error) {
			return nil, s.DeleteForRuns(c, []string{"run-b1"})
		}},
	}
}

// h226Dump is the store's content: its Export, less the header line
// (which names the time of the export).
func h226Dump(t *testing.T, s *Store) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := s.Export(h226bg, &b, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if i := bytes.IndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	return string(out)
}

// Every write operation, in every durability, with and without the log,
// with its context ending at each point it looks at it, one point per
// run: an error leaves the store as it was, after a reopen and after
// ApplyLog and Compact; a nil leaves exactly what an uncancelled call
// leaves. Every store opens and verifies clean, and its goroutines end
// with Close.
//
// Parallel, but serial where it counts the process's goroutines
// (h226Serial).
func TestH226WriteCancelledAtEveryLook(t *testing.T) {
	counts := h226Serial(t)
	base, dump := h226Base(t)
	before := h226BaseDump(t, base)
	keep := h226Sample(t, 3, 12)
	cases, errs, nils := 0, 0, 0
	wants := h226Wants(t, base, dump)
	for _, op := range h226Ops(dump) {
		for _, m := range h226Modes {
			for _, kind := range []string{"cancel", "close"} {
				t.Run(op.name+"/"+m.name+"/"+kind, func(t *testing.T) {
					want := wants[op.name] // the dump an uncancelled call leaves
					for n := 0; n < 400; n++ {
						c := newH226NthCtx(h226bg, n)
						var closed chan error
						var s *Store
						if kind == "close" {
							// Close from another goroutine at the n-th look,
							// given a moment to take the store first.
							closed = make(chan error, 1)
							c.onFire = func() {
								go func() { closed <- s.Close() }()
								time.Sleep(time.Millisecond)
							}
						}
						if !keep(n) {
							// Still run it, to find the end of the sweep.
							path := copyStore(t, base)
							var err error
							s, err = Open(path, m.opts)
							if err != nil {
								t.Fatal(err)
							}
							_, _ = op.run(c, s)
							_ = s.Close()
							if closed != nil && c.fired.Load() {
								<-closed
							}
							if !c.fired.Load() {
								return
							}
							continue
						}
						cases++
						g0 := runtime.NumGoroutine()
						path := copyStore(t, base)
						var err error
						s, err = Open(path, m.opts)
						if err != nil {
							t.Fatal(err)
						}
						out, err := op.run(c, s)
						fired := c.fired.Load()
						if kind == "close" && fired {
							if cerr := <-closed; cerr != nil {
								t.Fatalf("n=%d: the racing Close: %v", n, cerr)
							}
							// Closed: an Async write's failure came at
							// that Close (checked below: the dump).
						} else {
							ferr := s.Flush(h226bg)
							if ferr != nil && err == nil {
								// An Async write's failure comes at the Flush.
								err = ferr
							}
							if cerr := s.Close(); cerr != nil && err == nil {
								t.Fatalf("n=%d: close: %v", n, cerr)
							}
						}
						c.cancel()
						if counts {
							h226Settle(t, g0)
						}
						if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
							t.Fatalf("n=%d: error that is neither the ctx's nor ErrClosed: %v", n, err)
						}
						if h226Judge(t, fmt.Sprintf("n=%d (ctx ended: %v)", n, fired), err, path, m.opts, op, out, before, want, "an uncancelled call") {
							errs++
						} else {
							nils++
						}
						if !fired {
							return // the call never met its ctx's end: the sweep is over
						}
					}
					t.Fatal("400 looks at the ctx and not done")
				})
			}
		}
	}
	t.Logf("%d cases: %d errors, %d nils", cases, errs, nils)
}

// h226BaseDump is the dump of the store every case starts from (base).
func h226BaseDump(t *testing.T, base string) string {
	t.Helper()
	s, err := Open(copyStore(t, base), Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return h226Dump(t, s)
}

// h226Judge checks what a case (named by at) left at path: after an error
// the store as it was before (before), after a nil what the call without
// the fault or cancel leaves (want, if op.exact; the caller names it in
// other) and what op.check finds of out. It tells whether the call
// failed.
func h226Judge(t *testing.T, at string, err error, path string, opts Options, op h226Op, out any, before, want, other string) (failed bool) {
	t.Helper()
	got := h226Reopened(t, path, opts)
	if err != nil {
		if got != before {
			t.Fatalf("%s: the call returned %v, yet the store changed:\n%s", at, err, h226Diff(before, got))
		}
		return true
	}
	if op.exact && got != want {
		t.Fatalf("%s: nil, but the store is not what %s leaves:\n%s", at, other, h226Diff(want, got))
	}
	if op.check != nil {
		s, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		cerr := op.check(s, out)
		_ = s.Close()
		if cerr != nil {
			t.Fatalf("%s: nil, but the write is not there: %v", at, cerr)
		}
	}
	return false
}

// h226Serial runs the sweep serially, counting the process's goroutines
// (every store's must end with its Close), when CKPT_H226_FULL=1 sweeps
// every position; otherwise it runs in parallel with the package's other
// tests (the sweep mostly waits on fsyncs), whose goroutines a count
// cannot tell from the store's, so none is counted.
func h226Serial(t *testing.T) bool {
	if os.Getenv("CKPT_H226_FULL") != "" {
		return true
	}
	t.Parallel()
	return false
}

// h226Sample is raceSample for the H226 sweeps, which also sample a
// plain run: every plain-th position from an offset drawn per run and
// logged (CKPT_SWEEP_OFFSET replays it), so that each stays a regression
// test of seconds while successive runs cover every position;
// CKPT_H226_FULL=1 (or CKPT_RACE_FULL=1) runs every position, as the hunt
// that found nothing did.
func h226Sample(t *testing.T, plain, race int) (keep func(i int) bool) {
	t.Helper()
	if os.Getenv("CKPT_H226_FULL") != "" || os.Getenv("CKPT_RACE_FULL") != "" {
		return func(int) bool { return true }
	}
	if raceBuild {
		return sampleUnderRace(t, race)
	}
	off := int(time.Now().UnixNano() % int64(plain))
	if v, err := strconv.Atoi(os.Getenv("CKPT_SWEEP_OFFSET")); err == nil {
		off = ((v % plain) + plain) % plain
	}
	t.Logf("every %dth position from %d (CKPT_SWEEP_OFFSET=%d replays it, CKPT_H226_FULL=1 sweeps all)", plain, off, off)
	return func(i int) bool { return i%plain == off }
}

// h226Reopened reopens path, checks it, and returns its dump, which must
// be the same after ApplyLog and after Compact.
func h226Reopened(t *testing.T, path string, opts Options) string {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	rep, err := s.Verify(h226bg, VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	d := h226Dump(t, s)
	if err := s.ApplyLog(h226bg); err != nil {
		t.Fatal(err)
	}
	if d2 := h226Dump(t, s); d2 != d {
		t.Fatalf("ApplyLog changed the content:\n%s", h226Diff(d, d2))
	}
	if _, err := s.Compact(h226bg, nil); err != nil {
		t.Fatal(err)
	}
	if d2 := h226Dump(t, s); d2 != d {
		t.Fatalf("Compact changed the content:\n%s", h226Diff(d, d2))
	}
	return d
}

// h226Settle waits until the goroutines the store started have ended.
func h226Settle(t *testing.T, n int) {
	t.Helper()
	for i := 0; runtime.NumGoroutine() > n; i++ {
		if i == 2000 {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the store opened:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func h226Diff(a, b string) string {
	la, lb := bytes.Split([]byte(a), []byte("\n")), bytes.Split([]byte(b), []byte("\n"))
	var out bytes.Buffer
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y []byte
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if !bytes.Equal(x, y) {
			fmt.Fprintf(&out, "line %d:\n- %.300s\n+ %.300s\n", i, x, y)
			if out.Len() > 3000 {
				break
			}
		}
	}
	return out.String()
}

var errH226Disk = errors.New("h226: input/output error")

// h226FaultHooks fails the k-th call (from 1, counted in calls while
// armed) of one fault point once: the log's fsync, a bbolt commit rolled
// back, a bbolt commit written whose meta fsync failed, or the commit of
// a new log's binding.
//
// "cancel-log-fsync" and "cancel-commit" fail nothing: they end the
// call's ctx there (cancel), once the commit loop took the write, and
// give its caller a moment to leave before the fsync or commit goes on.
func h226FaultHooks(fault string, k int64, armed *atomic.Bool, calls *atomic.Int64, cancel func()) engine.Hooks {
	fail := func() bool { return armed.Load() && calls.Add(1) == k }
	switch fault {
	case "cancel-log-fsync":
		return engine.Hooks{SyncLog: func(f *os.File) error {
			if fail() {
				cancel()
				time.Sleep(2 * time.Millisecond)
			}
			return engine.Fdatasync(f)
		}}
	case "cancel-commit":
		return engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if fail() {
				cancel()
				time.Sleep(2 * time.Millisecond)
			}
			return tx.Commit()
		}}
	case "log-fsync":
		return engine.Hooks{SyncLog: func(f *os.File) error {
			if fail() {
				return errH226Disk
			}
			return engine.Fdatasync(f)
		}}
	case "commit-rolled-back":
		return engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			if fail() {
				_ = tx.Rollback()
				return errH226Disk
			}
			return tx.Commit()
		}}
	case "commit-meta-fsync":
		return engine.Hooks{CommitBolt: func(tx *bolt.Tx) error {
			err := tx.Commit()
			if fail() && err == nil {
				return errH226Disk
			}
			return err
		}}
	}
	return engine.Hooks{CommitBind: func(tx *bolt.Tx) error {
		if fail() {
			_ = tx.Rollback()
			return errH226Disk
		}
		return tx.Commit()
	}}
}

// Every write operation, in every durability, with and without the log,
// with the k-th log fsync or bbolt commit after Open failing once, one k
// per run: an error leaves the store as it was after a reopen (and after
// ApplyLog and Compact); a nil leaves exactly what a call without the
// fault leaves. Every store reopens and verifies clean.
//
// Parallel, but serial where it counts the process's goroutines
// (h226Serial).
func TestH226WriteFaultAtEveryFsyncAndCommit(t *testing.T) {
	counts := h226Serial(t)
	base, dump := h226Base(t)
	before := h226BaseDump(t, base)
	keep := h226Sample(t, 2, 8)
	cases, errs, nils := 0, 0, 0
	wants := h226Wants(t, base, dump)
	for _, op := range h226Ops(dump) {
		for _, m := range h226Modes {
			for _, fault := range []string{"log-fsync", "commit-rolled-back", "commit-meta-fsync", "commit-bind", "cancel-log-fsync", "cancel-commit"} {
				if m.opts.NoWAL && (fault == "log-fsync" || fault == "commit-bind" || fault == "cancel-log-fsync") {
					continue
				}
				t.Run(op.name+"/"+m.name+"/"+fault, func(t *testing.T) {
					want := wants[op.name] // the dump an uncancelled call leaves
					for k := int64(1); k < 200; k++ {
						if !keep(int(k)) && k > 1 {
							continue
						}
						cases++
						var armed atomic.Bool
						var calls atomic.Int64
						opts := m.opts
						cctx, cancel := context.WithCancel(h226bg)
						opts.tuning = &tuning{hooks: h226FaultHooks(fault, k, &armed, &calls, cancel)}
						g0 := runtime.NumGoroutine()
						path := copyStore(t, base)
						s, err := Open(path, opts)
						if err != nil {
							t.Fatal(err)
						}
						armed.Store(true)
						out, err := op.run(cctx, s)
						// Async: the write's own failure comes at the
						// Flush; a Sync or NoSync one acknowledged stays,
						// whatever fails after it.
						ferr := s.Flush(h226bg)
						armed.Store(false)
						fired := calls.Load() >= k
						cerr := s.Close()
						if err == nil && m.opts.Durability == Async {
							// The one Async write of the case failed if
							// Flush or, on a failed store, Close says an
							// async write failed; a failure of the store
							// after it was logged is not its own.
							for _, e := range []error{ferr, cerr} {
								if e != nil && strings.Contains(e.Error(), "async write failed") {
									err = e
								}
							}
						}
						if cerr != nil && err == nil {
							// A failure the call did not hear of (the
							// applier's commit) comes at Close.
							if !fired {
								t.Fatalf("k=%d: close: %v", k, cerr)
							}
						}
						if counts {
							h226Settle(t, g0)
						}
						cancel()
						if err != nil && !errors.Is(err, errH226Disk) && !(errors.Is(err, context.Canceled) && fired) {
							t.Fatalf("k=%d: error that is not the fault's: %v", k, err)
						}
						if h226Judge(t, fmt.Sprintf("k=%d (fault hit: %v)", k, fired), err, path, m.opts, op, out, before, want, "a call without the fault") {
							errs++
						} else {
							nils++
						}
						if !fired {
							return
						}
					}
					t.Fatal("200 fault points and not done")
				})
			}
		}
	}
	t.Logf("%d cases: %d errors, %d nils", cases, errs, nils)
}

// h226Wants returns, per exact operation, the dump a copy of base holds
// after it ran with a live ctx (the same in every durability and log
// setting: the cases compare their outcome in each to it).
func h226Wants(t *testing.T, base string, dump []byte) map[string]string {
	t.Helper()
	wants := make(map[string]string)
	for _, op := range h226Ops(dump) {
		if !op.exact {
			continue
		}
		path := copyStore(t, base)
		s, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := op.run(h226bg, s); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wants[op.name] = h226Reopened(t, path, Options{})
	}
	return wants
}
