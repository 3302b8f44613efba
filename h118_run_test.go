package ckpt_test

// The h118 hunt's run: its calls, deadlines and watchdog, the setup of a
// round, TestH118ConcurrentModel, and the checks after Close.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt"
	"github.com/oklog/ulid/v2"
)

// ---- the run ----

type h118Mode struct {
	name  string
	opts  ckpt.Options
	enc   bool
	async bool
}

type h118Run struct {
	t        *testing.T
	m        *h118Model
	s        atomic.Pointer[ckpt.Store]
	path     string
	dir      string
	opts     ckpt.Options
	mode     h118Mode
	clk      atomic.Int64
	stop     atomic.Bool
	closed   atomic.Bool
	seed     uint64
	findMu   sync.Mutex
	findings []string
	countMu  sync.Mutex
	counts   map[string]int
	errKinds map[string]int
	infMu    sync.Mutex
	inflight map[int64]h118Call
	callN    int64
	opN      atomic.Int64
	asyncMu  sync.Mutex
	asyncErr []error
	tmpl     *h118Model
	dumps    map[string][]byte // imported thread (or "all") -> dump
	oldBase  time.Time
	oldN     atomic.Uint64
	owners   int
}

type h118Call struct {
	kind  string
	start time.Time
}

const (
	h118CallLimit = 45 * time.Second
	h118HangLimit = 75 * time.Second
)

func (h *h118Run) tick() int64 { return h.clk.Add(1) }

func (h *h118Run) find(f string, a ...any) {
	msg := fmt.Sprintf("[%s seed %d] ", h.mode.name, h.seed) + fmt.Sprintf(f, a...)
	h.findMu.Lock()
	defer h.findMu.Unlock()
	if len(h.findings) < 200 {
		h.findings = append(h.findings, msg)
	}
}

// call runs fn with a deadline, counting it and catching a panic.
func (h *h118Run) call(kind string, fn func(ctx context.Context) error) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), h118CallLimit)
	defer cancel()
	h.infMu.Lock()
	h.callN++
	n := h.callN
	h.inflight[n] = h118Call{kind, time.Now()}
	h.infMu.Unlock()
	defer func() {
		h.infMu.Lock()
		delete(h.inflight, n)
		h.infMu.Unlock()
		if r := recover(); r != nil {
			h.find("%s panicked: %v\n%s", kind, r, debug.Stack())
			err = fmt.Errorf("panic: %v", r)
		}
		h.countMu.Lock()
		h.counts[kind]++
		if err != nil {
			h.errKinds[kind+": "+h118ErrName(err)]++
		}
		h.countMu.Unlock()
	}()
	return fn(ctx)
}

func h118ErrName(err error) string {
	for _, c := range []struct {
		e error
		n string
	}{{ckpt.ErrClosed, "ErrClosed"}, {ckpt.ErrNotFound, "ErrNotFound"}, {ckpt.ErrConflict, "ErrConflict"},
		{ckpt.ErrVersionReused, "ErrVersionReused"}, {ckpt.ErrExists, "ErrExists"}, {ckpt.ErrKey, "ErrKey"},
		{ckpt.ErrCorrupt, "ErrCorrupt"}, {ckpt.ErrFailed, "ErrFailed"}, {ckpt.ErrInvalidConfig, "ErrInvalidConfig"},
		{context.DeadlineExceeded, "deadline"}, {context.Canceled, "canceled"}} {
		if errors.Is(err, c.e) {
			return c.n
		}
	}
	return "other"
}

// unexpected reports err unless it is nil or one of ok; it returns whether
// the store is closed (the caller stops).
func (h *h118Run) unexpected(what string, err error, ok ...error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ckpt.ErrClosed) {
		if !h.closed.Load() && !h.stop.Load() {
			h.find("%s: ErrClosed before Close: %v", what, err)
		}
		return true
	}
	for _, o := range ok {
		if errors.Is(err, o) {
			return false
		}
	}
	if h.closed.Load() {
		h.find("%s during/after Close: not ErrClosed: %v", what, err)
		return true
	}
	h.find("%s: %v", what, err)
	return false
}

func (h *h118Run) watchdog(done chan struct{}) {
	tk := time.NewTicker(500 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-done:
			return
		case <-tk.C:
		}
		h.infMu.Lock()
		var late []string
		for _, c := range h.inflight {
			if time.Since(c.start) > h118HangLimit {
				late = append(late, fmt.Sprintf("%s for %v", c.kind, time.Since(c.start).Round(time.Second)))
			}
		}
		h.infMu.Unlock()
		if len(late) > 0 {
			buf := make([]byte, 64<<20)
			buf = buf[:runtime.Stack(buf, true)]
			f := filepath.Join(os.TempDir(), fmt.Sprintf("h118-hang-%s-%d.txt", h.mode.name, h.seed))
			_ = os.WriteFile(f, buf, 0o644)
			fmt.Fprintf(os.Stderr, "h118 HANG [%s seed %d]: %v; stacks in %s\n%s\n", h.mode.name, h.seed, late, f, buf)
			panic(fmt.Sprintf("h118: calls hang: %v (seed %d, mode %s)", late, h.seed, h.mode.name))
		}
	}
}

func (h *h118Run) store() *ckpt.Store { return h.s.Load() }

func (h *h118Run) newOp(owner string) string {
	return fmt.Sprintf("%s-op%d", owner, h.opN.Add(1))
}

func (h *h118Run) oldID() string {
	n := h.oldN.Add(1)
	ms := uint64(h.oldBase.UnixMilli()) + n
	var entropy [10]byte
	x := h.seed*1000003 + n
	for i := range entropy {
		entropy[i] = byte(x >> (8 * (i % 8)))
	}
	return ulid.MustNew(ms, bytes.NewReader(entropy[:])).String()
}

// ---- setup ----

// h118Template writes the threads the importer brings in, into a store of
// their own, and returns their model and dumps.
func h118Template(t *testing.T, dir string, seed uint64) (*h118Model, map[string][]byte) {
	ctx := context.Background()
	s, err := ckpt.Open(filepath.Join(dir, "template.db"), ckpt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &h118Model{threads: map[string]*h118Thread{}}
	h := &h118Run{t: t, m: m, counts: map[string]int{}, errKinds: map[string]int{}, inflight: map[int64]h118Call{}, mode: h118Mode{name: "template"}, seed: seed}
	h.s.Store(s)
	o := &h118Owner{h: h, name: "imp", r: rand.New(rand.NewPCG(seed, 99)), heads: map[string]*h118Entry{}}
	var names []string
	for i := range 3 {
		th := m.thread(fmt.Sprintf("imp-%d", i), "imp", "saver")
		names = append(names, th.name)
		for range 8 {
			ns := []string{"", "sub"}[o.r.IntN(2)]
			o.put(th, ns, []string{"plain", "full"}[o.r.IntN(2)])
			o.putWrites(th, ns)
		}
	}
	if len(h.findings) > 0 {
		t.Fatalf("template: %v", h.findings)
	}
	for _, th := range m.threads {
		for _, e := range th.entries {
			e.ack, e.start = 0, 0
			for _, p := range e.pw {
				for _, v := range p.vals {
					v.ack, v.start = 0, 0
				}
			}
		}
	}
	// Some of its writes were Async: an export reads only what is logged.
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dumps := map[string][]byte{}
	for _, n := range append(names, "all") {
		var buf bytes.Buffer
		opts := ckpt.ExportOptions{Threads: []string{n}}
		if n == "all" {
			opts.Threads = nil
		}
		if _, err := s.Export(ctx, &buf, opts); err != nil {
			t.Fatal(err)
		}
		dumps[n] = buf.Bytes()
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return m, dumps
}

func h118Key(id uint32) ckpt.Key {
	k := ckpt.Key{ID: id}
	for i := range k.Secret {
		k.Secret[i] = byte(id*31 + uint32(i))
	}
	return k
}

func h118Modes() []h118Mode {
	all := []h118Mode{
		{name: "sync", opts: ckpt.Options{}},
		{name: "nosync", opts: ckpt.Options{Durability: ckpt.NoSync}},
		{name: "async", opts: ckpt.Options{Durability: ckpt.Async}, async: true},
		{name: "enc", opts: ckpt.Options{Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(2), h118Key(1)}}}, enc: true},
		{name: "encasync", opts: ckpt.Options{Durability: ckpt.Async, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(2), h118Key(1)}}}, enc: true, async: true},
		{name: "nowal", opts: ckpt.Options{NoWAL: true}},
		{name: "nowalasync", opts: ckpt.Options{NoWAL: true, Durability: ckpt.Async}, async: true},
		{name: "nowalenc", opts: ckpt.Options{NoWAL: true, Durability: ckpt.NoSync, Encryption: &ckpt.Encryption{Keys: []ckpt.Key{h118Key(2), h118Key(1)}}}, enc: true},
	}
	want := os.Getenv("CKPT_H118_MODES")
	if want == "" {
		want = "sync,nosync,async,enc"
	}
	var out []h118Mode
	for _, m := range all {
		if slices.Contains(strings.Split(want, ","), m.name) {
			out = append(out, m)
		}
	}
	return out
}

func h118EnvInt(name string, def int) int {
	if v := os.Getenv(name); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			return n
		}
	}
	return def
}

// Parallel: it holds nothing process-wide (no goroutine or heap count, no
// environment change), and run before the parallel tests it held every
// one of them back by its 8.5-10 s (four modes of 2 s each).
func TestH118ConcurrentModel(t *testing.T) {
	t.Parallel()
	seed := uint64(h118EnvInt("CKPT_H118_SEED", 1180))
	rounds := h118EnvInt("CKPT_H118_ROUNDS", 1)
	dur := 2 * time.Second
	if v := os.Getenv("CKPT_H118_DUR"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			dur = d
		}
	}
	t.Logf("CKPT_H118_SEED=%d CKPT_H118_ROUNDS=%d CKPT_H118_DUR=%v", seed, rounds, dur)
	total := map[string]int{}
	for round := range rounds {
		for _, mode := range h118Modes() {
			rs := seed + uint64(round)
			h := h118Round(t, mode, rs, dur)
			for k, v := range h.counts {
				total[k] += v
			}
			if len(h.findings) > 0 {
				for _, f := range h.findings {
					t.Error(f)
				}
				t.Fatalf("round %d mode %s: %d findings; again with CKPT_H118_SEED=%d CKPT_H118_MODES=%s", round, mode.name, len(h.findings), rs, mode.name)
			}
		}
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range total {
			if !yield(k) {
				return
			}
		}
	})
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%d ", k, total[k])
	}
	t.Logf("calls: %s", sb.String())
}

func h118Round(t *testing.T, mode h118Mode, seed uint64, dur time.Duration) *h118Run {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(seed, uint64(len(mode.name))))
	tmpl, dumps := h118Template(t, dir, seed)
	m := &h118Model{threads: map[string]*h118Thread{}, async: mode.async}
	if r.IntN(2) == 0 {
		m.keepLast = 6 + r.IntN(6)
	}
	h := &h118Run{t: t, m: m, dir: dir, path: filepath.Join(dir, "h118.db"), opts: mode.opts, mode: mode, seed: seed,
		counts: map[string]int{}, errKinds: map[string]int{}, inflight: map[int64]h118Call{}, tmpl: tmpl, dumps: dumps,
		oldBase: time.Now().Add(-400 * 24 * time.Hour), owners: 3}
	h.opts.OnAsyncError = func(err error) {
		h.asyncMu.Lock()
		h.asyncErr = append(h.asyncErr, err)
		h.asyncMu.Unlock()
	}
	if r.IntN(2) == 0 {
		// The background sweeper too, with the policy the model allows.
		h.opts.SweepInterval = time.Duration(20+r.IntN(100)) * time.Millisecond
		h.opts.SweepPolicy = ckpt.Policy{KeepLast: m.keepLast, MaxAge: 30 * 24 * time.Hour, ThreadTTL: 60 * 24 * time.Hour}
		h.opts.OnSweep = func(st ckpt.GCStats, err error) {
			h.countMu.Lock()
			h.counts["sweep"]++
			h.countMu.Unlock()
			if err != nil && !errors.Is(err, ckpt.ErrClosed) {
				h.find("background sweep: %v", err)
			}
		}
	}
	h.opts.MaxPending = []int{0, 8, 64}[r.IntN(3)]
	h.opts.DeltaFold = []int{0, 2, 3}[r.IntN(3)]
	ctx := context.Background()
	if mode.enc {
		// The first keys seal an imported thread; the run's add key 2 and
		// Rekey re-seals it.
		o := h.opts
		o.Encryption = &ckpt.Encryption{Keys: []ckpt.Key{h118Key(1)}}
		s, err := ckpt.Open(h.path, o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Import(ctx, bytes.NewReader(dumps["imp-0"]), ckpt.ImportOptions{}); err != nil {
			t.Fatal(err)
		}
		th := m.thread("imp-0", "imp", "imp")
		for _, te := range tmpl.threads["imp-0"].entries {
			th.add(&h118Entry{ns: te.ns, op: te.op, id: te.id, parent: te.parent, owner: "imp", run: te.run, step: te.step,
				state: te.state, versions: te.versions, copyOf: te, copyStart: 1, copyEnd: 1, pw: te.pw, fullKeys: te.fullKeys,
				status: h118Acked})
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := ckpt.Open(h.path, h.opts)
	if err != nil {
		t.Fatal(err)
	}
	h.s.Store(s)
	h.tick()
	var owners []*h118Owner
	for w := range h.owners {
		name := fmt.Sprintf("w%d", w)
		o := &h118Owner{h: h, name: name, r: rand.New(rand.NewPCG(seed, uint64(100+w))), heads: map[string]*h118Entry{}, reader: s.NewReader()}
		o.savers = []*h118Thread{m.thread(name+"-s0", name, "saver")}
		if w%2 == 0 {
			o.savers = append(o.savers, m.thread(name+"-old", name, "old"))
		} else {
			o.savers = append(o.savers, m.thread(name+"-s1", name, "saver"))
		}
		o.simple = m.thread(name+"-p", name, "simple")
		o.copy = m.thread(name+"-c", name, "copy")
		owners = append(owners, o)
	}
	for _, n := range []string{"imp-0", "imp-1", "imp-2"} {
		m.thread(n, "imp", "imp")
	}
	done := make(chan struct{})
	go h.watchdog(done)
	var wg sync.WaitGroup
	// CKPT_H118_ONLY=owners,readers,flush,gc,compact,verify,backup,export,import,rekey
	// runs only those (to narrow a finding down).
	only := os.Getenv("CKPT_H118_ONLY")
	on := func(name string) bool { return only == "" || slices.Contains(strings.Split(only, ","), name) }
	for _, o := range owners {
		if on("owners") {
			wg.Go(o.loop)
		}
	}
	for range 2 {
		rs := r.Uint64()
		if on("readers") {
			wg.Go(func() { h.readerLoop(rs) })
		}
	}
	for _, f := range []struct {
		name string
		loop func(uint64)
	}{{"flush", h.flushLoop}, {"gc", h.gcLoop}, {"compact", h.compactLoop}, {"verify", h.verifyLoop},
		{"backup", h.backupLoop}, {"export", h.exportLoop}, {"import", h.importLoop}} {
		rs := r.Uint64()
		if on(f.name) {
			wg.Go(func() { f.loop(rs) })
		}
	}
	if mode.enc {
		rs := r.Uint64()
		if on("rekey") {
			wg.Go(func() { h.rekeyLoop(rs) })
		}
	}
	// Close at a random moment in the last part of the run, with
	// everything in flight.
	closeAt := dur/2 + time.Duration(r.Int64N(int64(dur/2)))
	time.Sleep(closeAt)
	h.closed.Store(true)
	var closeErr error
	_ = h.call("Close", func(context.Context) error { closeErr = s.Close(); return nil })
	h.stop.Store(true)
	wg.Wait()
	if closeErr != nil {
		h.find("Close: %v", closeErr)
	}
	h.asyncMu.Lock()
	for _, e := range h.asyncErr {
		h.find("an Async write or Flush failed: %v", e)
	}
	h.asyncMu.Unlock()
	h.afterClose(s)
	// Everything: after a reopen, twice.
	m.mu.Lock()
	m.final = true
	m.mu.Unlock()
	for pass := range 2 {
		s, err := ckpt.Open(h.path, h.opts)
		if err != nil {
			h.find("reopen %d: %v", pass, err)
			break
		}
		h.s.Store(s)
		h.checkAll(fmt.Sprintf("reopen %d", pass))
		if err := s.Close(); err != nil {
			h.find("close after reopen %d: %v", pass, err)
		}
	}
	close(done)
	var sb strings.Builder
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h.errKinds {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&sb, "%s=%d ", k, h.errKinds[k])
	}
	nEntries := 0
	for _, th := range m.threads {
		nEntries += len(th.entries)
	}
	t.Logf("mode %s seed %d keepLast %d sweep %v maxPending %d deltaFold %d: %d calls, %d checkpoints tried; errors: %s",
		mode.name, seed, m.keepLast, h.opts.SweepInterval, h.opts.MaxPending, h.opts.DeltaFold, h.callN, nEntries, sb.String())
	return h
}

// afterClose: every call on a closed store returns ErrClosed, at once.
func (h *h118Run) afterClose(s *ckpt.Store) {
	cfg := ckpt.Config{ThreadID: "w0-s0"}
	calls := map[string]func(ctx context.Context) error{
		"Put": func(ctx context.Context) error {
			_, err := s.Put(ctx, cfg, ckpt.Checkpoint{}, nil, nil)
			return err
		},
		"PutWrites": func(ctx context.Context) error {
			return s.PutWrites(ctx, ckpt.Config{ThreadID: "w0-s0", CheckpointID: ulid.Make().String()}, []ckpt.Write{{Channel: "a", Value: 1}}, "t", "")
		},
		"Save": func(ctx context.Context) error {
			_, err := s.Save(ctx, "w0-p", map[string]any{"a": 1}, nil)
			return err
		},
		"GetTuple": func(ctx context.Context) error { _, err := s.GetTuple(ctx, cfg); return err },
		"Reader":   func(ctx context.Context) error { _, err := s.NewReader().GetTuple(ctx, cfg); return err },
		"List": func(ctx context.Context) error {
			for _, err := range s.List(ctx, ckpt.ListOptions{}) {
				return err
			}
			return errors.New("List yielded nothing")
		},
		"History": func(ctx context.Context) error {
			for _, err := range s.History(ctx, "w0-p", ckpt.ListOptions{}) {
				return err
			}
			return errors.New("History yielded nothing")
		},
		"Threads": func(ctx context.Context) error {
			for _, err := range s.Threads(ctx) {
				return err
			}
			return errors.New("Threads yielded nothing")
		},
		"Latest":        func(ctx context.Context) error { _, err := s.Latest(ctx, "w0-p"); return err },
		"Branches":      func(ctx context.Context) error { _, err := s.Branches(ctx, "w0-p"); return err },
		"DeleteThread":  func(ctx context.Context) error { return s.DeleteThread(ctx, "w0-s0") },
		"CopyThread":    func(ctx context.Context) error { return s.CopyThread(ctx, "w0-s0", "x", ckpt.CopyOptions{}) },
		"Prune":         func(ctx context.Context) error { return s.Prune(ctx, []string{"w0-s0"}, ckpt.PruneKeepLatest) },
		"DeleteForRuns": func(ctx context.Context) error { return s.DeleteForRuns(ctx, []string{"w0-r1"}) },
		"GC": func(ctx context.Context) error {
			_, err := s.GC(ctx, ckpt.Policy{KeepLast: 1})
			return err
		},
		"Compact": func(ctx context.Context) error { _, err := s.Compact(ctx, nil); return err },
		"BackupFile": func(ctx context.Context) error {
			return s.BackupFile(ctx, filepath.Join(h.dir, "after-close.db"))
		},
		"Backup": func(ctx context.Context) error { return s.Backup(ctx, io.Discard) },
		"Export": func(ctx context.Context) error {
			_, err := s.Export(ctx, io.Discard, ckpt.ExportOptions{})
			return err
		},
		"Import": func(ctx context.Context) error {
			_, err := s.Import(ctx, bytes.NewReader(h.dumps["imp-1"]), ckpt.ImportOptions{})
			return err
		},
		"Verify": func(ctx context.Context) error { _, err := s.Verify(ctx, ckpt.VerifyOptions{}); return err },
		"Rekey":  func(ctx context.Context) error { _, err := s.Rekey(ctx); return err },
		"Flush":  func(ctx context.Context) error { return s.Flush(ctx) },
		"ApplyLog": func(ctx context.Context) error {
			return s.ApplyLog(ctx)
		},
		"Stats":     func(ctx context.Context) error { _, err := s.Stats(ctx); return err },
		"Thread":    func(ctx context.Context) error { _, err := s.Thread(ctx, "w0-s0"); return err },
		"ResolveID": func(ctx context.Context) error { _, err := s.ResolveID(ctx, "w0-s0", "", "01"); return err },
		"Load":      func(ctx context.Context) error { _, err := s.Load(ctx, "w0-p", ulid.Make().String()); return err },
		"Close":     func(ctx context.Context) error { return s.Close() },
	}
	for name, fn := range calls {
		err := h.call("after Close: "+name, fn)
		if name == "Close" {
			if err != nil && !errors.Is(err, ckpt.ErrClosed) {
				h.find("Close again: %v", err)
			}
			continue
		}
		if name == "Rekey" && !h.mode.enc && errors.Is(err, ckpt.ErrInvalidConfig) {
			continue // no keys: refused before anything else
		}
		if !errors.Is(err, ckpt.ErrClosed) {
			h.find("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// checkAll checks the whole reopened store against the model.
func (h *h118Run) checkAll(what string) {
	ctx := context.Background()
	s := h.store()
	rep, err := s.Verify(ctx, ckpt.VerifyOptions{})
	if err != nil || !rep.OK() {
		h.find("%s: Verify: %v %+v", what, err, rep)
	}
	r0 := h.tick()
	shown := map[*h118Thread]map[string]bool{}
	n := 0
	for tup, err := range s.List(ctx, ckpt.ListOptions{}) {
		if err != nil {
			h.find("%s: List: %v", what, err)
			break
		}
		n++
		h.m.mu.Lock()
		e, cerr := h.m.check(h118FromTuple(tup), r0, r0, false)
		h.m.mu.Unlock()
		if cerr != nil {
			h.find("%s: %v", what, cerr)
			continue
		}
		if shown[e.th] == nil {
			shown[e.th] = map[string]bool{}
		}
		shown[e.th][tup.Config.CheckpointNS+"/"+tup.Config.CheckpointID] = true
	}
	for _, th := range h.m.threads {
		sh := shown[th]
		if sh == nil {
			sh = map[string]bool{}
		}
		h.missing(what, th, nil, sh, r0, r0, nil)
		for _, e := range th.entries {
			if e.observedInFlight && e.status == h118Failed {
				h.find("%s: %q %s (op %s) was read, and its write failed", what, th.name, e.id, e.op)
			}
		}
	}
	// The simple API agrees.
	for name, th := range h.m.threads {
		if th.kind != "simple" {
			continue
		}
		for sn, err := range s.History(ctx, name, ckpt.ListOptions{}) {
			if err != nil {
				h.find("%s: History %q: %v", what, name, err)
				break
			}
			h.checkShown(what+" History", h118FromSnap(name, sn), r0, r0)
		}
	}
	h.t.Logf("%s: %d checkpoints read back", what, n)
}

// TestH118VerifyBesideImport: Verify on a live store while an Import of
// this handle is between two of its batches must not report the import's
// threads (reads hide them until the import publishes them) as "left by
// an import that did not finish". Found by TestH118ConcurrentModel (mode
// nowal, seeds 5000, 5002, 5004 under -race): with NoWAL, Verify runs in
// the commit loop on the writer, which no read gate hides anything from.
