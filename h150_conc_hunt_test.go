package ckpt

// helper-150's hunt: 8-32 goroutines at once on one store, every call's
// context cancelled or timed out at a random moment, a failed fsync or
// bbolt commit or a full disk injected at random moments, and a Close
// racing them; a seeded model checked after each round, live and after
// Close and a reopen. CKPT_H150_SEED and CKPT_H150_ROUNDS run it long.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
)

// h150Mode is a store's configuration and the fault a round injects.
type h150Mode struct {
	name  string
	opts  Options
	fault string // "", "fsync" (a log fsync fails), "commit" (a bbolt commit fails), "full" (disk full at times)
}

var h150Modes = []h150Mode{
	{"sync", Options{}, ""},
	{"async", Options{Durability: Async}, ""},
	{"nosync", Options{Durability: NoSync}, ""},
	{"sync-fsync", Options{}, "fsync"},
	{"async-fsync", Options{Durability: Async}, "fsync"},
	{"sync-full", Options{}, "full"},
	{"async-full", Options{Durability: Async}, "full"},
	{"nowal-sync-full", Options{NoWAL: true}, "full"},
	{"nowal-async-full", Options{NoWAL: true, Durability: Async}, "full"},
	{"nowal-async-commit", Options{NoWAL: true, Durability: Async}, "commit"},
	{"mixed-commit", Options{Durability: Async}, "commit"},
	{"nosync-fsync", Options{Durability: NoSync}, "fsync"},
	{"nowal-nosync-commit", Options{NoWAL: true, Durability: NoSync}, "commit"},
}

// h150Write is one write call and its outcome.
type h150Write struct {
	tag, kind     string // kind: save, put, putfull, writes
	thread, id    string // id: the checkpoint (for writes: the one written to)
	task          string // putfull, writes
	async, nosync bool
	err           error
	done          int64 // h150Round.seq when the call returned
}

type h150Round struct {
	t       *testing.T
	s       *Store
	path    string
	rng     *rand.Rand
	mode    h150Mode
	seq     atomic.Int64
	mu      sync.Mutex
	writes  []*h150Write
	asyncTx []string // every async failure heard (OnAsyncError, Flush, Close)
	unnamed int      // failures counted but not named (MoreAsyncErrs)
	// The same, apart: what OnAsyncError heard (cb) and what Flush and
	// Close returned (ret); each must name every failed write once.
	cb, ret    h150Heard
	cbRng      *rand.Rand
	cbMayClose bool        // OnAsyncError may Close the store
	cbClosed   atomic.Bool // it did
	// reopened is the store after Close and Open.
	reopened *Store
	closed   atomic.Bool
	backups  []h150Backup
	exports  []h150Export
	heads    map[string]string // a shared thread's last head a Sync Save saw
}

// h150Export is a dump Export returned nil for, begun at start.
type h150Export struct {
	dump   []byte
	start  int64
	failed error // the store's fail-stop error when the Export began
}

func (r *h150Round) head(thread string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.heads[thread]
}

func (r *h150Round) setHead(thread, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.heads[thread] = id
}

type h150Backup struct {
	path  string
	start int64
}

// h150Heard is what one way of hearing of async failures heard.
type h150Heard struct {
	texts   []string
	unnamed int
}

func (h *h150Heard) hear(err error) {
	h.texts = append(h.texts, err.Error())
	if m, ok := errors.AsType[*engine.MoreAsyncErrs](err); ok {
		h.unnamed += m.N
	}
}

// named counts how many times the failures heard name a write.
func (h *h150Heard) named(name string) int {
	n := 0
	for _, e := range h.texts {
		n += strings.Count(e, name)
	}
	return n
}

// hearAsync takes what Flush or Close returned (cb false) or what
// OnAsyncError was called with.
func (r *h150Round) hearAsync(err error, cb bool) {
	if err == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asyncTx = append(r.asyncTx, err.Error())
	if m, ok := errors.AsType[*engine.MoreAsyncErrs](err); ok {
		r.unnamed += m.N
	}
	if cb {
		r.cb.hear(err)
	} else {
		r.ret.hear(err)
	}
}

// onAsyncError hears a failure and, at times, calls the store from inside
// the callback, as the docs allow: a Flush (which returns at once), a
// Sync Save on a thread of its own.
func (r *h150Round) onAsyncError(err error) {
	r.hearAsync(err, true)
	r.mu.Lock()
	n := r.cbRng.IntN(6)
	r.mu.Unlock()
	s := r.s
	switch n {
	case 0:
		ferr := s.Flush(context.Background())
		r.hearAsync(ferr, false)
	case 2:
		if r.cbMayClose {
			// A Close from inside the callback: it returns what the
			// callback is yet to hear, and ends the calls after this one.
			r.cbClosed.Store(true)
			r.closed.Store(true)
			r.hearAsync(s.Close(), false)
		}
	case 1:
		tag := fmt.Sprintf("cb.%d", r.seq.Load())
		w := &h150Write{tag: tag, kind: "save", thread: "cb"}
		w.id, w.err = s.Save(WithWriteOptions(context.Background(), WriteOptions{Durability: Sync}), "cb", map[string]any{"v": tag}, Metadata{"tag": tag})
		if w.err != nil && !h150Allowed(w.err) {
			r.t.Errorf("Save inside OnAsyncError: %v", w.err)
		}
		r.note(w)
	}
}

func (r *h150Round) note(w *h150Write) {
	w.done = r.seq.Add(1)
	r.mu.Lock()
	r.writes = append(r.writes, w)
	r.mu.Unlock()
}

// allowed: the errors a call may return in this hunt.
func h150Allowed(err error) bool {
	for _, e := range []error{context.Canceled, context.DeadlineExceeded, ErrClosed, ErrFailed, ErrDiskFull, ErrNotFound} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// h150Ctx returns a context cancelled before the call, at a random moment
// during it, by a timeout, or never.
func h150Ctx(rng *rand.Rand) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	switch rng.IntN(8) {
	case 0:
		cancel()
	case 1:
		time.AfterFunc(time.Duration(rng.IntN(2000))*time.Microsecond, cancel)
	case 2:
		go func() { runtime.Gosched(); cancel() }()
	case 3:
		c, cc := context.WithTimeout(ctx, time.Duration(rng.IntN(3000))*time.Microsecond)
		return c, func() { cc(); cancel() }
	}
	return ctx, cancel
}

// slowWriter takes its time over each write, so that an Export's ctx ends
// while it writes.
type slowWriter struct{ buf bytes.Buffer }

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(20 * time.Microsecond)
	return w.buf.Write(p)
}

func TestH150ConcurrentCancelFaultHunt(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("CKPT_H150_SEED"), 10, 64); err == nil {
		seed = v
	}
	rounds := raceRounds(t, len(h150Modes), len(h150Modes))
	if v, err := strconv.Atoi(os.Getenv("CKPT_H150_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	t.Logf("CKPT_H150_SEED=%d CKPT_H150_ROUNDS=%d", seed, rounds)
	modes := h150Modes
	if m := os.Getenv("CKPT_H150_MODE"); m != "" { // one mode only
		modes = nil
		for _, md := range h150Modes {
			if md.name == m {
				modes = append(modes, md)
			}
		}
	}
	for i := range rounds {
		mode := modes[i%len(modes)]
		rs := seed + uint64(i)
		ok := t.Run(fmt.Sprintf("%d-%s", i, mode.name), func(t *testing.T) {
			h150RunRound(t, mode, rs)
		})
		if !ok {
			t.Fatalf("round %d failed: replay with CKPT_H150_SEED=%d CKPT_H150_ROUNDS=%d (mode %s)", i, seed, i+1, mode.name)
		}
	}
}

func h150RunRound(t *testing.T, mode h150Mode, seed uint64) {
	t.Logf("seed %d mode %s", seed, mode.name)
	rng := rand.New(rand.NewPCG(seed, 150))
	r := &h150Round{t: t, rng: rng, mode: mode, path: filepath.Join(t.TempDir(), "h150.ckpt"), heads: map[string]string{}}
	var full atomic.Bool
	var calls atomic.Int64
	failAt := int64(3 + rng.IntN(40))
	// Every log fsync takes a while, so that cancellations land during
	// the wait for it.
	var slowMu sync.Mutex
	slow := rand.New(rand.NewPCG(seed, 1))
	pause := func() {
		slowMu.Lock()
		d := time.Duration(slow.IntN(400)) * time.Microsecond
		slowMu.Unlock()
		time.Sleep(d)
	}
	hooks := engine.Hooks{SyncLog: func(f *os.File) error { pause(); return engine.Fdatasync(f) }}
	switch mode.fault {
	case "fsync":
		hooks.SyncLog = func(f *os.File) error {
			pause()
			if calls.Add(1) == failAt {
				return errors.New("h150: fsync on fire")
			}
			return engine.Fdatasync(f)
		}
	case "commit":
		hooks.CommitBolt = func(tx *bolt.Tx) error {
			if calls.Add(1) == failAt {
				_ = tx.Rollback()
				return errors.New("h150: commit on fire")
			}
			return tx.Commit()
		}
	case "full":
		hooks.CommitBolt = failWhenFull(&full, &os.PathError{Op: "write", Path: r.path, Err: syscall.ENOSPC})
	}
	opts := mode.opts
	r.cbRng = rand.New(rand.NewPCG(seed, 3))
	// A short queue at times: Async writers then wait for room, and their
	// ctx ends that wait (nothing written).
	switch rng.IntN(3) {
	case 0:
		opts.MaxPending = 1 + rng.IntN(6)
	case 1:
		opts.MaxPendingBytes = int64(200 + rng.IntN(2000))
	}
	opts.OnAsyncError = r.onAsyncError
	opts.tuning = &tuning{hooks: hooks}

	before := runtime.NumGoroutine()
	s, err := Open(r.path, opts)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	workers := 8 + rng.IntN(25)
	steps := 12 + rng.IntN(20)
	raceClose := rng.IntN(2) == 0
	r.cbMayClose = raceClose && rng.IntN(2) == 0
	closeAt := int64(workers * (2 + rng.IntN(steps)))
	var wg sync.WaitGroup
	for g := range workers {
		gseed := rng.Uint64()
		wg.Go(func() { r.worker(g, rand.New(rand.NewPCG(gseed, 7)), steps) })
	}
	if mode.fault == "full" {
		fseed := rng.Uint64()
		wg.Go(func() {
			fr := rand.New(rand.NewPCG(fseed, 9))
			for range 6 {
				time.Sleep(time.Duration(fr.IntN(3000)) * time.Microsecond)
				full.Store(!full.Load())
			}
			full.Store(false)
		})
	}
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	var closeErr error
	closeDone := make(chan struct{})
	if raceClose {
		go func() {
			defer close(closeDone)
			for r.seq.Load() < closeAt {
				select {
				case <-waited:
				case <-time.After(200 * time.Microsecond):
					continue
				}
				break
			}
			r.closed.Store(true)
			closeErr = s.Close()
		}()
	} else {
		close(closeDone)
	}
	// Every call returns: a generous deadline, else the stacks.
	hung := time.After(3 * time.Minute)
	for _, c := range []chan struct{}{waited, closeDone} {
		select {
		case <-c:
		case <-hung:
			buf := make([]byte, 8<<20)
			t.Fatalf("round hung: %d goroutines\n%s", runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
	}
	if !raceClose {
		full.Store(false)
		fctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		ferr := s.Flush(fctx)
		cancel()
		if ferr != nil && !h150Allowed(ferr) && !errors.Is(ferr, ErrConflict) {
			t.Errorf("Flush after the round: %v", ferr)
		}
		r.hearAsync(ferr, false)
		if ferr == nil || !errors.Is(ferr, ErrFailed) {
			r.check(s, "live", false)
		}
		closeErr = s.Close()
	}
	r.hearAsync(closeErr, false)
	if closeErr != nil && !h150Allowed(closeErr) && !errors.Is(closeErr, ErrConflict) {
		t.Errorf("Close: %v", closeErr)
	}
	deadline := time.Now().Add(20 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 4<<20)
		t.Fatalf("%d goroutines after Close, %d before Open:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
	s2, err := Open(r.path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	r.reopened = s2
	r.check(s2, "reopened", true)
	for _, b := range r.backups {
		r.checkBackup(b)
	}
	for i, e := range r.exports {
		r.checkExport(i, e)
	}
	acked, failed := 0, 0
	why := map[string]int{}
	for _, w := range r.writes {
		if w.err == nil {
			acked++
			continue
		}
		failed++
		for _, e := range []error{context.Canceled, context.DeadlineExceeded, ErrClosed, ErrFailed, ErrDiskFull, ErrNotFound, ErrConflict} {
			if errors.Is(w.err, e) {
				why[e.Error()]++
				break
			}
		}
	}
	t.Logf("errors: %v; OnAsyncError closed the store: %v", why, r.cbClosed.Load())
	t.Logf("%d workers, %d steps, close racing %v: %d writes acknowledged, %d errored, %d async failures heard, %d backups",
		workers, steps, raceClose, acked, failed, len(r.asyncTx), len(r.backups))
}

// worker runs steps random calls. Its own thread "o<g>" only it writes;
// "sh<k>" all share; "c<g>" is its scratch thread (copies, prunes,
// deletes).
func (r *h150Round) worker(g int, rng *rand.Rand, steps int) {
	s, t := r.s, r.t
	own, scratch := fmt.Sprintf("o%d", g), fmt.Sprintf("c%d", g)
	lastOwn, lastSync := "", ""
	for step := range steps {
		ctx, cancel := h150Ctx(rng)
		tag := fmt.Sprintf("g%d.%d", g, step)
		// The store's durability, or another for this call.
		dur := s.durability
		if rng.IntN(3) == 0 {
			dur = []Durability{Sync, Async, NoSync}[rng.IntN(3)]
		}
		wo := WriteOptions{Durability: dur}
		w := &h150Write{tag: tag, thread: own, async: dur == Async, nosync: dur == NoSync}
		op := rng.IntN(100)
		switch {
		case op < 30 || op >= 30 && op < 40:
			w.kind = "save"
			if op >= 30 {
				w.thread = fmt.Sprintf("sh%d", rng.IntN(3))
			}
			if op >= 30 && rng.IntN(2) == 0 {
				// A compare-and-set on the shared head: ErrConflict
				// when another worker's Save came first.
				wo.IfHead, wo.Parent = true, r.head(w.thread)
			}
			w.id, w.err = s.Save(WithWriteOptions(ctx, wo), w.thread, map[string]any{"v": tag}, Metadata{"tag": tag})
			if w.err == nil && !w.async {
				r.setHead(w.thread, w.id)
			}
		case op < 55:
			ctx = WithWriteOptions(ctx, wo)
			w.kind = "put"
			w.id = ulid.Make().String()
			cp := Checkpoint{ID: w.id, ChannelValues: map[string]any{"v": tag}, ChannelVersions: map[string]string{"v": w.id}}
			nv := map[string]string{"v": w.id}
			if op < 50 {
				_, w.err = s.Put(ctx, Config{ThreadID: own, CheckpointID: lastOwn}, cp, Metadata{"tag": tag}, nv)
			} else {
				w.kind, w.task = "putfull", tag+"f"
				_, w.err = s.PutFull(ctx, Config{ThreadID: own, CheckpointID: lastOwn}, cp, Metadata{"tag": tag}, nv,
					[]TaskWrites{{TaskID: w.task, Writes: []Write{{Channel: "w", Value: tag}}}})
			}
		case op < 63:
			if lastOwn == "" {
				cancel()
				continue
			}
			ctx = WithWriteOptions(ctx, wo)
			w.kind, w.id, w.task = "writes", lastOwn, tag+"w"
			w.err = s.PutWrites(ctx, Config{ThreadID: own, CheckpointID: lastOwn}, []Write{{Channel: "w", Value: tag}}, w.task, "")
		default:
			w = nil
			r.maintenance(ctx, rng, op, own, scratch, lastSync)
		}
		cancel()
		if w == nil {
			continue
		}
		if w.err != nil && !h150Allowed(w.err) && !(errors.Is(w.err, ErrConflict) && wo.IfHead) {
			t.Errorf("%s %s: %v", w.kind, tag, w.err)
		}
		if w.err == nil && w.kind != "writes" && w.thread == own {
			lastOwn = w.id
			if !w.async {
				lastSync = w.id
			}
		}
		r.note(w)
	}
}

// maintenance runs one call that is not a checkpoint write.
func (r *h150Round) maintenance(ctx context.Context, rng *rand.Rand, op int, own, scratch, lastSync string) {
	s, t := r.s, r.t
	var err error
	what := ""
	switch {
	case op < 67:
		what = "CopyThread"
		err = s.CopyThread(ctx, own, scratch, CopyOptions{Replace: true})
	case op < 69:
		what = "DeleteThread"
		err = s.DeleteThread(ctx, scratch)
	case op < 71:
		what = "Prune"
		err = s.Prune(ctx, []string{scratch}, PruneStrategy(rng.IntN(2)))
	case op < 73:
		what = "GC"
		_, err = s.GC(ctx, Policy{KeepLast: 1000, DryRun: rng.IntN(2) == 0})
	case op < 74:
		what = "Compact"
		_, err = s.Compact(ctx, nil)
	case op < 76:
		what = "BackupFile"
		start := r.seq.Load()
		path := filepath.Join(filepath.Dir(r.path), fmt.Sprintf("b%d.ckpt", r.seq.Add(1)))
		err = s.BackupFile(ctx, path)
		_, serr := os.Stat(path)
		if err != nil && serr == nil {
			t.Errorf("BackupFile returned %v, yet left %s", err, path)
		}
		if err == nil {
			r.mu.Lock()
			r.backups = append(r.backups, h150Backup{path, start})
			r.mu.Unlock()
		}
	case op < 79:
		what = "Export"
		start := r.seq.Load()
		failed := s.eng.Failed()
		sw := &slowWriter{}
		_, err = s.Export(ctx, sw, ExportOptions{})
		if err == nil {
			r.mu.Lock()
			if len(r.exports) < 2 {
				r.exports = append(r.exports, h150Export{sw.buf.Bytes(), start, failed})
			}
			r.mu.Unlock()
		}
	case op < 84:
		what = "Flush"
		err = s.Flush(ctx)
		r.hearAsync(err, false)
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			if !errors.Is(err, ErrClosed) {
				return // async failures: heard, checked against the model
			}
		}
	case op < 92:
		what = "GetTuple"
		if lastSync != "" {
			var tp *Tuple
			tp, err = s.GetTuple(ctx, Config{ThreadID: own, CheckpointID: lastSync})
			if err == nil && tp.Config.CheckpointID != lastSync {
				t.Errorf("GetTuple %s: read %s", lastSync, tp.Config.CheckpointID)
			}
			if errors.Is(err, ErrNotFound) && !r.closed.Load() {
				t.Errorf("GetTuple of acknowledged %s in %s: %v", lastSync, own, err)
			}
		}
	default:
		what = "List"
		for tp, lerr := range s.List(ctx, ListOptions{ThreadID: own, Limit: 5}) {
			if lerr != nil {
				err = lerr
				break
			}
			if tp.Config.ThreadID != own {
				t.Errorf("List of %s yields a checkpoint of %s", own, tp.Config.ThreadID)
			}
		}
	}
	if err != nil && !h150Allowed(err) {
		t.Errorf("%s: %v", what, err)
	}
}

// expected tells whether w must be in the store: it returned nil and, if
// Async, no failure named it.
func (r *h150Round) expected(w *h150Write) bool {
	if w.err != nil {
		return false
	}
	if !w.async {
		return true
	}
	name := w.asyncName()
	for _, e := range r.asyncTx {
		if strings.Contains(e, name) {
			return false
		}
	}
	return true
}

// check holds s to the model: every expected write reads back exact, no
// errored or reported one is there, every checkpoint in the store is one
// of the model's in its own thread (or a copy's), Verify is clean.
func (r *h150Round) check(s *Store, when string, final bool) {
	t := r.t
	t.Helper()
	ctx := context.Background()
	r.mu.Lock()
	defer r.mu.Unlock()
	byTag := map[string]*h150Write{}
	missingAsync := 0
	for _, w := range r.writes {
		if w.kind != "writes" {
			byTag[w.tag] = w
		}
		want := r.expected(w)
		switch w.kind {
		case "save", "put", "putfull":
			if w.id == "" {
				continue // an errored Save returns no id: the scan below finds it
			}
			tp, err := s.GetTuple(ctx, Config{ThreadID: w.thread, CheckpointID: w.id})
			if !want {
				if err == nil && w.err != nil {
					t.Errorf("%s: %s %s returned %v, yet reads", when, w.kind, w.tag, w.err)
				}
				if err == nil && w.err == nil {
					t.Errorf("%s: %s %s was reported failed, yet reads", when, w.kind, w.tag)
				}
				continue
			}
			if err != nil {
				if w.async && errors.Is(err, ErrNotFound) {
					missingAsync++
					continue
				}
				t.Errorf("%s: acknowledged %s %s (%s in %s, async %v) lost: %v", when, w.kind, w.tag, w.id, w.thread, w.async, err)
				continue
			}
			var v string
			if err := tp.Decode("v", &v); err != nil || v != w.tag || tp.Metadata["tag"] != w.tag {
				t.Errorf("%s: %s %s reads v=%q (%v) tag=%v", when, w.kind, w.tag, v, err, tp.Metadata["tag"])
			}
			if w.kind == "putfull" && len(tp.PendingWrites) == 0 {
				t.Errorf("%s: putfull %s: its pending writes lost", when, w.tag)
			}
		case "writes":
			tp, err := s.GetTuple(ctx, Config{ThreadID: w.thread, CheckpointID: w.id})
			has := false
			if err == nil {
				for _, pw := range tp.PendingWrites {
					if pw.TaskID == w.task {
						has = true
						var v string
						if derr := pw.Value.Decode(&v); derr != nil || v != w.tag {
							t.Errorf("%s: pending write %s reads %q (%v)", when, w.task, v, derr)
						}
					}
				}
			}
			switch {
			case want && !has && w.async:
				missingAsync++
			case want && !has:
				t.Errorf("%s: acknowledged PutWrites %s on %s lost (%v)", when, w.task, w.id, err)
			case !want && has && (w.err != nil || final):
				t.Errorf("%s: PutWrites %s returned %v (reported: %v), yet reads", when, w.task, w.err, w.err == nil)
			}
		}
	}
	if final {
		r.checkHeard()
	}
	if missingAsync > r.unnamed {
		t.Errorf("%s: %d acknowledged async writes missing, none named by a failure (%d unnamed); failures heard:\n%s", when, missingAsync, r.unnamed, strings.Join(r.asyncTx, "\n"))
	}
	// Every checkpoint in the store is a write of the model, in its own
	// thread or its owner's scratch copy, not an errored one.
	threads := 0
	for ti, err := range s.Threads(ctx) {
		if err != nil {
			t.Errorf("%s: Threads: %v", when, err)
			break
		}
		threads++
		n := 0
		for tp, err := range s.List(ctx, ListOptions{ThreadID: ti.ThreadID}) {
			if err != nil {
				t.Errorf("%s: List %s: %v", when, ti.ThreadID, err)
				break
			}
			n++
			tag, _ := tp.Metadata["tag"].(string)
			w := byTag[tag]
			if w == nil {
				t.Errorf("%s: %s holds %s, tag %q, no write of the model", when, ti.ThreadID, tp.Config.CheckpointID, tag)
				continue
			}
			if w.err != nil {
				t.Errorf("%s: %s holds %s of errored %s %s (%v)", when, ti.ThreadID, tp.Config.CheckpointID, w.kind, tag, w.err)
			}
			home := w.thread == tp.Config.ThreadID || strings.HasPrefix(w.thread, "o") && "c"+w.thread[1:] == tp.Config.ThreadID
			if !home || w.id != "" && w.id != tp.Config.CheckpointID {
				t.Errorf("%s: %s holds %s: the write of %s %s in %s", when, ti.ThreadID, tp.Config.CheckpointID, w.kind, tag, w.thread)
			}
		}
		if n != ti.Checkpoints {
			t.Errorf("%s: Threads says %s has %d checkpoints, List yields %d", when, ti.ThreadID, ti.Checkpoints, n)
		}
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil || !rep.OK() {
		t.Errorf("%s: Verify: %v %v", when, err, rep)
	}
}

// checkBackup: a backup that returned nil holds every write acknowledged
// before it began (an Async one that did not fail too: Backup waits for
// the writes queued before it).
func (r *h150Round) checkBackup(b h150Backup) {
	t := r.t
	s, err := Open(b.path, Options{ReadOnly: true})
	if err != nil {
		t.Errorf("backup %s: %v", b.path, err)
		return
	}
	defer s.Close()
	ctx := context.Background()
	for _, w := range r.writes {
		if !r.expected(w) || w.async && r.unnamed > 0 || w.done >= b.start || w.kind == "writes" || w.id == "" {
			continue
		}
		if _, err := s.GetTuple(ctx, Config{ThreadID: w.thread, CheckpointID: w.id}); err != nil {
			t.Errorf("backup %s (begun at %d): %s %s acknowledged at %d: %v", b.path, b.start, w.kind, w.tag, w.done, err)
		}
	}
}

// checkExport imports a dump Export returned nil for into a new store:
// it holds every write acknowledged before the Export began (an Async
// one that did not fail too: Export waits for those queued before it), and
// only writes of the model that did not fail, each in its own thread.
func (r *h150Round) checkExport(i int, e h150Export) {
	t := r.t
	path := filepath.Join(filepath.Dir(r.path), fmt.Sprintf("import%d.ckpt", i))
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if _, err := s.Import(ctx, bytes.NewReader(e.dump), ImportOptions{}); err != nil {
		t.Errorf("import of export %d: %v", i, err)
		return
	}
	byTag := map[string]*h150Write{}
	for _, w := range r.writes {
		if w.kind != "writes" {
			byTag[w.tag] = w
		}
		if !r.expected(w) || w.async && r.unnamed > 0 || w.done >= e.start || w.kind == "writes" || w.id == "" {
			continue
		}
		if _, err := s.GetTuple(ctx, Config{ThreadID: w.thread, CheckpointID: w.id}); err != nil {
			t.Errorf("export %d (begun at %d, store failed then: %v): %s %s (async %v, nosync %v) acknowledged at %d: %v", i, e.start, e.failed, w.kind, w.tag, w.async, w.nosync, w.done, err)
		}
	}
	for tp, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			t.Errorf("export %d: List: %v", i, err)
			break
		}
		tag, _ := tp.Metadata["tag"].(string)
		if w := byTag[tag]; w == nil || w.err != nil {
			t.Errorf("export %d holds %s in %s, tag %q: no write of the model that returned nil", i, tp.Config.CheckpointID, tp.Config.ThreadID, tag)
		}
	}
}

// checkHeard: after Close, every acknowledged async write missing from the
// store was named once by OnAsyncError and once by a Flush or Close (or
// counted unnamed), and no write was named twice by either.
func (r *h150Round) checkHeard() {
	t := r.t
	ctx := context.Background()
	s2 := r.reopened
	for _, w := range r.writes {
		if !w.async || w.err != nil || w.id == "" {
			continue
		}
		name := w.asyncName()
		present := false
		if tp, err := s2.GetTuple(ctx, Config{ThreadID: w.thread, CheckpointID: w.id}); err == nil {
			present = w.kind != "writes"
			for _, pw := range tp.PendingWrites {
				present = present || pw.TaskID == w.task
			}
		}
		cb, ret := r.cb.named(name), r.ret.named(name)
		switch {
		case cb > 1 || ret > 1:
			t.Errorf("%s %s named %d times by OnAsyncError, %d by Flush/Close:\n%s", w.kind, w.tag, cb, ret, r.cb.with(name))
		case present && (cb > 0 || ret > 0):
			t.Errorf("%s %s is there, yet named failed (OnAsyncError %d, Flush/Close %d)", w.kind, w.tag, cb, ret)
		case !present && (cb == 0 && r.cb.unnamed == 0 && !r.cbClosed.Load() || ret == 0 && r.ret.unnamed == 0):
			t.Errorf("%s %s (%s) is missing; OnAsyncError named it %d times, Flush/Close %d", w.kind, w.tag, w.id, cb, ret)
		}
	}
}

func (h *h150Heard) with(name string) string {
	var out []string
	for _, e := range h.texts {
		if strings.Contains(e, name) {
			out = append(out, e)
		}
	}
	return strings.Join(out, "\n---\n")
}

// asyncName is how an async failure names w (writeName).
func (w *h150Write) asyncName() string {
	switch w.kind {
	case "writes":
		return "pending writes of task " + strconv.Quote(w.task)
	case "save":
		return "save of checkpoint " + w.id + " in thread "
	}
	return "put of checkpoint " + w.id + " in thread "
}
