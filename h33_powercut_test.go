package ckpt

// A store-level power-cut hunt (h33). Several goroutines write through the
// whole API (Save, Put, PutWrites) in mixed durabilities, beside a few
// Flush, ApplyLog, GC, Prune and Compact calls; some writes are made to
// fail (a stale IfHead, a reused version, a missing checkpoint). The
// log's fsync is hooked: at (a sample of) its calls, and at the end, the
// test keeps what a power cut there may leave:
//
//   - the log as its last completed fsync began (durable: the syncer asks
//     for a group only after its record was written), plus ANY subset of
//     the records written since, each kept whole, lost (the bytes that
//     were there: zeros, or an earlier pass's records) or torn (a prefix
//     of it, or some of its 512-byte sectors), in any length between the
//     durable one and the current one;
//   - bbolt's file as it is at that moment, or, if a bbolt commit is under
//     way, as it was before that commit (the bbolt commit hook keeps it):
//     each commit fsyncs its pages, then its meta page, before it returns,
//     so that is bbolt's durable state.
//
// Each image is opened read-write in a fresh directory and must: open
// (no power cut makes Open refuse), hold every write acknowledged as
// durable before the moment exactly (a Sync write that returned nil; a
// NoSync or Async one that returned before a Flush, an ApplyLog or a Sync
// write began that then returned nil: the log is replayed as a prefix, and
// that call's fsync covered every record before its own), show no write
// that returned an error, no checkpoint or task's writes in part, no later
// write of a thread without the earlier ones (unless retention may have
// removed them), and pass Verify; opened read-only first, it must show the
// same writes; after a Save, Close and Open again, it must hold that Save
// and all of the above still. Half the fsyncs imaged are ones with two
// records or more written since the last (where an earlier record may be
// lost and a later one kept), and a quarter are moments during a bbolt
// commit (taken as each commit begins, as at a log fsync).
//
// Rounds: CKPT_PCUT_ROUNDS (default 2, a few seconds under -race), from
// seed CKPT_PCUT_SEED (default 1; round r uses seed+r). What is written,
// which fsyncs are imaged and the images are drawn from the seed; the
// goroutines' interleaving is not (the moments differ from run to run).
// CKPT_PCUT_MOMENTS sets the fsyncs imaged per round (default 4) and
// CKPT_PCUT_IMAGES the images per moment (default 3). CKPT_PCUT_KEEP=dir
// keeps the files of every failing image there.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ckpt-go/ckpt/internal/engine"
	"github.com/ckpt-go/ckpt/saverkit"
	bolt "go.etcd.io/bbolt"
)

func TestPowerCutAtLogFsyncs(t *testing.T) {
	t.Parallel()
	rounds := pcutEnv(t, "CKPT_PCUT_ROUNDS", 2)
	seed := pcutEnv(t, "CKPT_PCUT_SEED", 1)
	h := &pcutHunt{t: t, fails: map[string][]string{}, keep: os.Getenv("CKPT_PCUT_KEEP"),
		moments: pcutEnv(t, "CKPT_PCUT_MOMENTS", 4), images: pcutEnv(t, "CKPT_PCUT_IMAGES", 3)}
	for r := range rounds {
		h.round(uint64(seed + r))
	}
	t.Logf("%d rounds from seed %d: %d fsyncs, %d moments (%d during a bbolt commit), %d images opened, %d acknowledged writes checked",
		rounds, seed, h.fsyncs, h.nMoments, h.nDuring, h.nImages, h.nChecked)
	cats := make([]string, 0, len(h.fails))
	for c := range h.fails {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	for _, c := range cats {
		ex := h.fails[c]
		t.Errorf("%s: %d images, e.g.:\n\t%s", c, h.counts[c], strings.Join(ex, "\n\t"))
	}
}

func pcutEnv(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a number", name, s)
	}
	return n
}

// pcutHunt gathers the failures of every round, by category.
type pcutHunt struct {
	t               *testing.T
	keep            string
	moments, images int
	mu              sync.Mutex
	fails           map[string][]string // category: the first examples
	counts          map[string]int
	fsyncs          int
	nMoments        int
	nDuring         int // moments during a bbolt commit
	nImages         int
	nChecked        int
}

func (h *pcutHunt) fail(cat, what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = map[string]int{}
	}
	h.counts[cat]++
	if len(h.fails[cat]) < 4 {
		h.fails[cat] = append(h.fails[cat], what)
	}
}

type pcutKind int

const (
	pcutSave pcutKind = iota
	pcutPut
	pcutWrites
)

// pcutWrite is one write call and what it was to store.
type pcutWrite struct {
	kind       pcutKind
	tok        string // the checkpoint's metadata "tok", or the task id
	thread, ns string
	dur        Durability // as resolved (Sync, NoSync or Async)
	start, end int64      // clock ticks around the call
	err        error
	expectFail bool
	id         string         // the checkpoint (Save, Put) or the writes' checkpoint
	parent     string         // Save, Put
	state      map[string]any // Save: the state; Put: every channel's value
	writes     []Write
	durable    int64 // the tick it was durable at (0: never known)
}

// pcutMoment is what a power cut at one fsync may leave.
type pcutMoment struct {
	call   int  // the fsync call (0: the end of the run)
	multi  bool // two records or more were written since the last fsync
	during bool // a bbolt commit was under way (db is the file before it)
	tick   int64
	synced []byte // the log as the last completed fsync began
	log    []byte // the log now
	db     []byte // bbolt's file now
}

// pcutRun is one round: the store, its hooks, and the record of calls.
type pcutRun struct {
	h    *pcutHunt
	seed uint64
	path string
	// limited: the round lowered the log's record limit to 16 KiB
	// (Hooks.MaxRecordBody), which a retention's rewrite of one value may
	// pass: such a GC or Prune fails whole, as it must (the real limit
	// is 4 GiB).
	limited bool
	clock   atomic.Int64
	// boltMu guards inflight and preDB, and is held while a moment is
	// taken: a bbolt commit neither begins nor ends meanwhile, and the log
	// is not rewound over the groups the commit under way takes.
	boltMu   sync.Mutex
	inflight bool       // a bbolt commit is under way
	preDB    []byte     // bbolt's file as the commit under way began
	mu       sync.Mutex // serializes the fsync hooks
	synced   []byte
	calls    int
	pick     *rand.Rand // which fsyncs are imaged (reservoirs), under mu
	res      [3]pcutReservoir
	lastDB   []byte

	recMu    sync.Mutex
	writes   []*pcutWrite
	barriers [][2]int64 // Flush, ApplyLog: start, end of each that returned nil
	deletes  []*pcutDelete
	asyncErr []error
}

// pcutDelete is a GC or Prune call.
type pcutDelete struct {
	thread     string // "" : every thread (GC)
	start, end int64
}

func (p *pcutRun) tick() int64 { return p.clock.Add(1) }

// pcutReservoir keeps a uniform sample of size moments among the fsyncs
// offered to it.
type pcutReservoir struct {
	size    int
	seen    int
	moments []*pcutMoment
}

// offer keeps the moment of this fsync (tick at, the log now log) if the
// sample takes it (p.mu and p.boltMu held).
func (r *pcutReservoir) offer(p *pcutRun, at int64, log []byte) (*pcutMoment, error) {
	r.seen++
	slot := len(r.moments)
	if slot < r.size {
		r.moments = append(r.moments, nil)
	} else if slot = p.pick.IntN(r.seen); slot >= r.size {
		return nil, nil
	}
	m, err := p.moment(p.calls, at, log)
	if err != nil {
		return nil, err
	}
	r.moments[slot] = m
	return m, nil
}

// syncLog is the log's fsync: it keeps a moment (reservoir-sampled), then
// fsyncs; what the file held as it began is durable once it returns.
func (p *pcutRun) syncLog(f *os.File) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.boltMu.Lock()
	at := p.tick()
	data, err := os.ReadFile(p.path + walSuffix)
	if err != nil {
		p.boltMu.Unlock()
		return err
	}
	if p.synced == nil && len(data) >= 24 {
		// CreateLog's own fsync made the header and a record header of
		// zeros durable.
		p.synced = append(bytes.Clone(data[:24]), make([]byte, 24)...)
	}
	p.calls++
	// Three reservoirs: moments during a bbolt commit, moments with two
	// records or more written since the last fsync (where an earlier one
	// may be lost and a later one kept), and the others.
	r := &p.res[0]
	switch {
	case p.inflight:
		r = &p.res[2]
	case len(pcutUnits(p.synced, data)) >= 2:
		r = &p.res[1]
	}
	if m, err := r.offer(p, at, data); err != nil {
		p.boltMu.Unlock()
		return err
	} else if m != nil {
		m.multi = len(pcutUnits(p.synced, data)) >= 2
	}
	p.boltMu.Unlock()
	if err := engine.Fdatasync(f); err != nil {
		return err
	}
	p.synced = data
	return nil
}

// moment copies bbolt's file (p.boltMu held): as it is, or, while a
// commit is under way, as it was before (a power cut then leaves the
// earlier transaction: the new meta page is written after the commit's
// pages are fsync'd, and fsync'd itself before the commit returns).
func (p *pcutRun) moment(call int, at int64, log []byte) (*pcutMoment, error) {
	db := p.preDB
	if !p.inflight {
		var err error
		if db, err = os.ReadFile(p.path); err != nil {
			return nil, err
		}
	}
	if bytes.Equal(db, p.lastDB) {
		db = p.lastDB
	}
	p.lastDB = db
	return &pcutMoment{call: call, tick: at, synced: p.synced, log: log, db: db, during: p.inflight}, nil
}

// commitBolt is bbolt's commit: it keeps bbolt's file as the commit
// begins (what a power cut during it leaves), and offers the moment to the
// reservoir of moments during a bbolt commit. The log's fsyncs seldom
// come during one (the applier fsyncs the log before it commits, and the
// commit loop builds no group meanwhile): without these, that reservoir
// stayed empty.
func (p *pcutRun) commitBolt(tx *bolt.Tx) error {
	p.mu.Lock()
	p.boltMu.Lock()
	db, err := os.ReadFile(p.path)
	p.preDB, p.inflight = db, true
	var log []byte
	if err == nil && p.synced != nil {
		if log, err = os.ReadFile(p.path + walSuffix); err == nil {
			var m *pcutMoment
			if m, err = p.res[2].offer(p, p.tick(), log); m != nil {
				m.multi = len(pcutUnits(p.synced, log)) >= 2
			}
		} else if errors.Is(err, os.ErrNotExist) {
			err = nil // NoWAL, or the log not made yet
		}
	}
	p.boltMu.Unlock()
	p.mu.Unlock()
	if err != nil {
		_ = tx.Rollback()
		p.boltMu.Lock()
		p.preDB, p.inflight = nil, false
		p.boltMu.Unlock()
		return err
	}
	err = tx.Commit()
	p.boltMu.Lock()
	p.preDB, p.inflight = nil, false
	p.boltMu.Unlock()
	return err
}

func (p *pcutRun) record(w *pcutWrite) {
	p.recMu.Lock()
	p.writes = append(p.writes, w)
	p.recMu.Unlock()
}

func (h *pcutHunt) round(seed uint64) {
	t := h.t
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	dir := t.TempDir()
	p := &pcutRun{h: h, seed: seed, path: filepath.Join(dir, "s.db"), pick: rand.New(rand.NewPCG(seed, 1))}
	p.res[1].size = max(1, h.moments/2)
	p.res[2].size = max(1, h.moments/4)
	p.res[0].size = max(0, h.moments-p.res[1].size-p.res[2].size)
	hooks := engine.Hooks{SyncLog: p.syncLog, CommitBolt: p.commitBolt, HoldApplier: rng.IntN(2) == 0,
		LogGrow: []int64{8 << 10, 64 << 10}[rng.IntN(2)]}
	if rng.IntN(2) == 0 {
		hooks.MaxRecordBody = 16 << 10 // groups cut at the record limit
		p.limited = true
	}
	storeDur := []Durability{Sync, Sync, NoSync, Async}[rng.IntN(4)]
	opts := Options{Durability: storeDur, tuning: &tuning{hooks: hooks},
		OnAsyncError: func(err error) {
			p.recMu.Lock()
			p.asyncErr = append(p.asyncErr, err)
			p.recMu.Unlock()
		}}
	desc := fmt.Sprintf("seed %d (store %v, HoldApplier %v, LogGrow %d, MaxRecordBody %d)",
		seed, storeDur, hooks.HoldApplier, hooks.LogGrow, hooks.MaxRecordBody)
	s, err := Open(p.path, opts)
	if err != nil {
		t.Fatalf("%s: Open: %v", desc, err)
	}
	const writers = 4
	ops := 20 + rng.IntN(16)
	began := time.Now()
	var wg sync.WaitGroup
	for g := range writers {
		wr := &pcutWriter{p: p, s: s, g: g, storeDur: storeDur, rng: rand.New(rand.NewPCG(seed, uint64(100+g))),
			ids: saverkit.NewIDSource(), heads: map[string][]string{}, chans: map[string]map[string]string{},
			vers: map[string]map[string]string{}}
		wg.Go(func() { wr.run(ops) })
	}
	stop := make(chan struct{})
	var mwg sync.WaitGroup
	mrng := rand.New(rand.NewPCG(seed, 99))
	mwg.Go(func() { p.maintain(s, mrng, writers, stop) })
	wg.Wait()
	close(stop)
	mwg.Wait()
	// The end: whatever the log holds now, beside its durable part.
	p.mu.Lock()
	p.boltMu.Lock()
	at := p.tick()
	data, err := os.ReadFile(p.path + walSuffix)
	var end *pcutMoment
	if err == nil {
		if end, err = p.moment(0, at, data); err == nil {
			end.multi = len(pcutUnits(p.synced, data)) >= 2
		}
	}
	p.boltMu.Unlock()
	p.mu.Unlock()
	if err != nil {
		t.Fatalf("%s: the end: %v", desc, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("%s: Close: %v", desc, err)
	}
	for _, err := range p.asyncErr {
		t.Errorf("%s: an Async write failed: %v", desc, err)
	}
	p.settle()
	ran := time.Since(began)
	h.fsyncs += p.calls
	defer func() { t.Logf("%s: ran %v, checked %v", desc, ran, time.Since(began)-ran) }()
	moments := append(append(append(p.res[0].moments, p.res[1].moments...), p.res[2].moments...), end)
	for mi, m := range moments {
		h.nMoments++
		if m.during {
			h.nDuring++
		}
		irng := rand.New(rand.NewPCG(seed, uint64(1000+mi)))
		for i := range h.images {
			img, fates := pcutImage(m, irng, i)
			what := fmt.Sprintf("%s, fsync call %d of %d (tick %d, two records or more since the last fsync: %v, during a bbolt commit: %v), image %d (%d of %d log bytes: %s)",
				desc, m.call, p.calls, m.tick, m.multi, m.during, i, len(img), len(m.log), fates)
			p.check(filepath.Join(dir, fmt.Sprintf("m%d-%d", mi, i)), m, img, what)
		}
	}
}

// settle computes when each write was durable: a Sync write when it
// returned; a NoSync or Async one when the first barrier (a Sync write,
// Flush or ApplyLog that returned nil) begun after it returned did.
func (p *pcutRun) settle() {
	var bs [][2]int64
	bs = append(bs, p.barriers...)
	for _, w := range p.writes {
		if w.err == nil && w.dur == Sync {
			bs = append(bs, [2]int64{w.start, w.end})
		}
	}
	for _, w := range p.writes {
		if w.err != nil {
			continue
		}
		if w.dur == Sync {
			w.durable = w.end
			continue
		}
		for _, b := range bs {
			if b[0] > w.end && (w.durable == 0 || b[1] < w.durable) {
				w.durable = b[1]
			}
		}
	}
}

func (p *pcutRun) maintain(s *Store, rng *rand.Rand, writers int, stop chan struct{}) {
	ctx := context.Background()
	for {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(2+rng.IntN(15)) * time.Millisecond):
		}
		var err error
		var d *pcutDelete
		start := p.tick()
		barrier := false
		switch r := rng.IntN(10); {
		case r < 3:
			err = s.Flush(ctx)
			barrier = true
		case r < 5:
			err = s.ApplyLog(ctx)
			barrier = true
		case r < 7:
			d = &pcutDelete{start: start}
			_, err = s.GC(ctx, Policy{KeepLast: 2 + rng.IntN(4)})
		case r < 9:
			d = &pcutDelete{thread: fmt.Sprintf("w%d-put", rng.IntN(writers)), start: start}
			err = s.Prune(ctx, []string{d.thread}, PruneKeepLatest)
		default:
			_, err = s.Compact(ctx, nil)
		}
		end := p.tick()
		if d != nil {
			d.end = end
			p.recMu.Lock()
			p.deletes = append(p.deletes, d)
			p.recMu.Unlock()
		}
		if err != nil && !(p.limited && strings.Contains(err.Error(), "over a record's limit")) {
			p.h.t.Errorf("seed %d: maintenance: %v", p.seed, err)
		} else if err == nil && barrier {
			p.recMu.Lock()
			p.barriers = append(p.barriers, [2]int64{start, end})
			p.recMu.Unlock()
		}
	}
}

// pcutWriter writes its own threads: "w<g>-save" through Save, and
// "w<g>-put" (namespaces "" and "sub") through Put and PutWrites.
type pcutWriter struct {
	p        *pcutRun
	s        *Store
	g        int
	storeDur Durability
	rng      *rand.Rand
	ids      *saverkit.IDSource
	// Save's thread: its checkpoints, oldest first, and its state.
	saves []string
	state map[string]any
	// Put's thread, by namespace: checkpoints oldest first, and the head's
	// channel values and versions.
	heads map[string][]string
	chans map[string]map[string]string
	vers  map[string]map[string]string
	n     int
}

func (w *pcutWriter) value(big bool) string { return huntValue(w.rng, big) }

// huntValue is a random value of a hunt's writer (this one's and
// h34_hunt_test.go's): 8-47 letters, or 1,500-6,499 when big (values
// over a page, stored apart).
func huntValue(rng *rand.Rand, big bool) string {
	n := 8 + rng.IntN(40)
	if big {
		n = 1500 + rng.IntN(5000)
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + rng.IntN(26))
	}
	return string(b)
}

func (w *pcutWriter) run(ops int) {
	ctx := context.Background()
	for range ops {
		w.n++
		dur := []Durability{Sync, Sync, NoSync, NoSync, Async, DurabilityDefault}[w.rng.IntN(6)]
		switch r := w.rng.IntN(100); {
		case r < 32:
			w.save(ctx, dur)
		case r < 60:
			w.put(ctx, dur)
		case r < 82:
			w.putWrites(ctx, dur)
		case r < 92:
			w.failing(ctx)
		default:
			start := w.p.tick()
			if err := w.s.Flush(ctx); err != nil {
				w.p.h.t.Errorf("seed %d: Flush: %v", w.p.seed, err)
				continue
			}
			end := w.p.tick()
			w.p.recMu.Lock()
			w.p.barriers = append(w.p.barriers, [2]int64{start, end})
			w.p.recMu.Unlock()
		}
	}
}

func (w *pcutWriter) resolve(dur Durability) Durability {
	if dur == DurabilityDefault {
		return w.storeDur
	}
	return dur
}

func (w *pcutWriter) tok() string { return fmt.Sprintf("s%d-w%d-%d", w.p.seed, w.g, w.n) }

// call runs one write call and records it (unexpected errors fail the
// test; the write then counts as failed).
func (w *pcutWriter) call(pw *pcutWrite, dur Durability, do func(ctx context.Context) error) {
	ctx := WithWriteOptions(context.Background(), WriteOptions{Durability: dur})
	pw.dur = w.resolve(dur)
	pw.start = w.p.tick()
	pw.err = do(ctx)
	pw.end = w.p.tick()
	if pw.err != nil && !pw.expectFail {
		w.p.h.t.Errorf("seed %d: %s %s: %v", w.p.seed, pw.thread, pw.tok, pw.err)
	}
	if pw.err == nil && pw.expectFail {
		w.p.h.t.Errorf("seed %d: %s %s, made to fail, returned nil", w.p.seed, pw.thread, pw.tok)
	}
	w.p.record(pw)
}

func (w *pcutWriter) save(ctx context.Context, dur Durability) {
	th := fmt.Sprintf("w%d-save", w.g)
	st := map[string]any{}
	for k, v := range w.state {
		st[k] = v
	}
	if len(st) == 0 || w.rng.IntN(8) == 0 {
		st["msgs"] = []string{w.value(false)}
	} else {
		st["msgs"] = append(slices.Clone(st["msgs"].([]string)), w.value(false))
	}
	st["n"] = w.n
	switch w.rng.IntN(4) {
	case 0:
		delete(st, "a")
	case 1:
		st["a"] = w.value(false)
	}
	if w.rng.IntN(6) == 0 {
		st["big"] = w.value(true)
	} else if w.rng.IntN(3) == 0 {
		delete(st, "big")
	}
	pw := &pcutWrite{kind: pcutSave, tok: w.tok(), thread: th, state: st}
	if n := len(w.saves); n > 0 {
		pw.parent = w.saves[n-1]
	}
	w.call(pw, dur, func(ctx context.Context) error {
		id, err := w.s.Save(ctx, th, st, Metadata{"tok": pw.tok})
		pw.id = id
		return err
	})
	if pw.err == nil {
		w.saves = append(w.saves, pw.id)
		w.state = st
	}
}

func (w *pcutWriter) put(ctx context.Context, dur Durability) {
	th := fmt.Sprintf("w%d-put", w.g)
	ns := []string{"", "sub"}[w.rng.IntN(2)]
	tok := w.tok()
	chans, vers := maps2(w.chans[ns]), maps2(w.vers[ns])
	newVersions := map[string]string{}
	for _, ch := range []string{"x", "y", "z"} {
		if _, ok := chans[ch]; !ok || w.rng.IntN(2) == 0 {
			chans[ch] = w.value(w.rng.IntN(8) == 0)
			vers[ch] = tok + "." + ch
			newVersions[ch] = vers[ch]
		}
	}
	values := map[string]any{}
	state := map[string]any{}
	for ch, v := range chans {
		state[ch] = v
		if _, ok := newVersions[ch]; ok {
			values[ch] = v
		}
	}
	pw := &pcutWrite{kind: pcutPut, tok: tok, thread: th, ns: ns, state: state}
	if h := w.heads[ns]; len(h) > 0 {
		pw.parent = h[len(h)-1]
	}
	w.call(pw, dur, func(ctx context.Context) error {
		cfg, err := w.s.Put(ctx, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: pw.parent},
			Checkpoint{V: 4, ChannelValues: values, ChannelVersions: vers}, Metadata{"tok": tok}, newVersions)
		pw.id = cfg.CheckpointID
		return err
	})
	if pw.err == nil {
		w.heads[ns] = append(w.heads[ns], pw.id)
		w.chans[ns], w.vers[ns] = chans, vers
	}
}

func maps2(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (w *pcutWriter) putWrites(ctx context.Context, dur Durability) {
	th := fmt.Sprintf("w%d-put", w.g)
	ns := []string{"", "sub"}[w.rng.IntN(2)]
	h := w.heads[ns]
	if len(h) == 0 {
		w.put(ctx, dur)
		return
	}
	var writes []Write
	for i := range 1 + w.rng.IntN(3) {
		writes = append(writes, Write{Channel: fmt.Sprintf("c%d", i), Value: w.value(w.rng.IntN(10) == 0)})
	}
	pw := &pcutWrite{kind: pcutWrites, tok: w.tok(), thread: th, ns: ns, id: h[len(h)-1], writes: writes}
	w.call(pw, dur, func(ctx context.Context) error {
		return w.s.PutWrites(ctx, Config{ThreadID: th, CheckpointNS: ns, CheckpointID: pw.id}, writes, pw.tok, "path")
	})
}

// failing makes a write that must fail in the commit loop, taken back
// alone from its group: a Save or Put whose IfHead parent is stale, a Put
// that reuses a stored version for other bytes, PutWrites to a checkpoint
// never written. Sync or NoSync, so that the error comes back.
func (w *pcutWriter) failing(ctx context.Context) {
	dur := []Durability{Sync, NoSync}[w.rng.IntN(2)]
	ns := []string{"", "sub"}[w.rng.IntN(2)]
	put := fmt.Sprintf("w%d-put", w.g)
	tok := w.tok()
	switch r := w.rng.IntN(4); {
	case r == 0 && len(w.saves) >= 2:
		th := fmt.Sprintf("w%d-save", w.g)
		pw := &pcutWrite{kind: pcutSave, tok: tok, thread: th, expectFail: true}
		w.call(pw, dur, func(ctx context.Context) error {
			ctx = WithWriteOptions(ctx, WriteOptions{Durability: dur, IfHead: true, Parent: w.saves[len(w.saves)-2]})
			_, err := w.s.Save(ctx, th, map[string]any{"n": -1}, Metadata{"tok": tok})
			return err
		})
	case r == 1 && len(w.heads[ns]) >= 2:
		h := w.heads[ns]
		pw := &pcutWrite{kind: pcutPut, tok: tok, thread: put, ns: ns, expectFail: true}
		w.call(pw, dur, func(ctx context.Context) error {
			ctx = WithWriteOptions(ctx, WriteOptions{Durability: dur, IfHead: true})
			_, err := w.s.Put(ctx, Config{ThreadID: put, CheckpointNS: ns, CheckpointID: h[len(h)-2]},
				Checkpoint{V: 4, ChannelValues: map[string]any{"x": "stale"}, ChannelVersions: map[string]string{"x": tok}},
				Metadata{"tok": tok}, map[string]string{"x": tok})
			return err
		})
	case r == 2 && len(w.heads[ns]) >= 1:
		h := w.heads[ns]
		vers := maps2(w.vers[ns])
		pw := &pcutWrite{kind: pcutPut, tok: tok, thread: put, ns: ns, expectFail: true}
		w.call(pw, dur, func(ctx context.Context) error {
			_, err := w.s.Put(ctx, Config{ThreadID: put, CheckpointNS: ns, CheckpointID: h[len(h)-1]},
				Checkpoint{V: 4, ChannelValues: map[string]any{"x": "other bytes " + tok}, ChannelVersions: vers},
				Metadata{"tok": tok}, map[string]string{"x": vers["x"]})
			if err != nil && !errors.Is(err, ErrVersionReused) {
				w.p.h.t.Errorf("seed %d: a reused version: %v, want ErrVersionReused", w.p.seed, err)
			}
			return err
		})
	default:
		missing := mustID(w.ids.Next(time.Now())).String()
		pw := &pcutWrite{kind: pcutWrites, tok: tok, thread: put, ns: ns, id: missing, expectFail: true,
			writes: []Write{{Channel: "c0", Value: "never"}}}
		w.call(pw, dur, func(ctx context.Context) error {
			err := w.s.PutWrites(ctx, Config{ThreadID: put, CheckpointNS: ns, CheckpointID: missing}, pw.writes, tok, "path")
			if err != nil && !errors.Is(err, ErrNotFound) {
				w.p.h.t.Errorf("seed %d: PutWrites to a missing checkpoint: %v, want ErrNotFound", w.p.seed, err)
			}
			return err
		})
	}
}

// pcutImage builds image i of moment m: the durable log, then each unit
// written since (a record of the log's chain, or the bytes past the last
// one) kept, lost or torn, at a length from the durable one to the
// current one. Image 0 keeps every unit at the current length (a kill's
// image); image 1 loses the first unit written since and keeps the rest,
// at the current length; the others are drawn at random.
func pcutImage(m *pcutMoment, rng *rand.Rand, i int) ([]byte, string) {
	cur := m.log
	base := append(bytes.Clone(m.synced), make([]byte, max(0, len(cur)-len(m.synced)))...)
	changed := pcutUnits(base, cur)
	img := base
	var fates []string
	for k, u := range changed {
		fate := 0 // keep
		switch {
		case i == 0:
		case i == 1:
			if k == 0 {
				fate = 1
			}
		default:
			fate = []int{0, 0, 0, 1, 1, 1, 2, 2, 3}[rng.IntN(9)]
		}
		switch fate {
		case 0:
			copy(img[u[0]:u[1]], cur[u[0]:u[1]])
			fates = append(fates, fmt.Sprintf("%d-%d kept", u[0], u[1]))
		case 1:
			fates = append(fates, fmt.Sprintf("%d-%d lost", u[0], u[1]))
		case 2:
			c := u[0] + rng.IntN(u[1]-u[0])
			copy(img[u[0]:c], cur[u[0]:c])
			fates = append(fates, fmt.Sprintf("%d-%d torn at %d", u[0], u[1], c))
		case 3:
			var kept []string
			for s := u[0] &^ 511; s < u[1]; s += 512 {
				if rng.IntN(2) == 0 {
					a, b := max(s, u[0]), min(s+512, u[1])
					copy(img[a:b], cur[a:b])
					kept = append(kept, strconv.Itoa(s/512))
				}
			}
			fates = append(fates, fmt.Sprintf("%d-%d sectors [%s] kept", u[0], u[1], strings.Join(kept, " ")))
		}
	}
	n := len(cur)
	if lo := len(m.synced); i >= 2 && lo < len(cur) {
		switch rng.IntN(3) {
		case 0:
			n = lo
		case 1:
			n = lo + rng.IntN(len(cur)-lo+1)
		}
	}
	if len(fates) == 0 {
		fates = append(fates, "nothing written since the fsync")
	}
	return img[:max(n, len(m.synced))], strings.Join(fates, ", ")
}

// pcutUnits returns the units of the log cur that differ from base (the
// durable log, zeros past its end): its records by their length fields
// from the header on (whatever they say, a unit is only a part of the
// bytes written since), then the bytes past the last one.
func pcutUnits(base, cur []byte) [][2]int {
	var units [][2]int
	off := 24
	for off+24 <= len(cur) {
		n := int(binary.BigEndian.Uint32(cur[off:]))
		end := off + 24 + (n+7)&^7
		if n == 0 || end > len(cur) {
			break
		}
		units = append(units, [2]int{off, end})
		off = end
	}
	units = append(units, [2]int{off, len(cur)})
	var changed [][2]int
	for _, u := range units {
		if u[0] < u[1] && pcutDiffers(base, cur[u[0]:u[1]], u[0]) {
			changed = append(changed, u)
		}
	}
	return changed
}

// pcutDiffers tells whether b, at offset off of a log, differs from base
// there (zeros past base's end). off may lie past base's end: a record's
// length field may give an end past the durable log (a stale record's
// cut in two by the log's cut-back as b378295 made it, dfb094d fixed it:
// the harness panicked here instead of reporting the images).
func pcutDiffers(base, b []byte, off int) bool {
	n := min(len(b), max(0, len(base)-off))
	if n > 0 && !bytes.Equal(b[:n], base[off:off+n]) {
		return true
	}
	return slices.ContainsFunc(b[n:], func(c byte) bool { return c != 0 })
}

// check opens the image (bbolt's file of the moment, the log img) in dir
// and checks it.
func (p *pcutRun) check(dir string, m *pcutMoment, img []byte, what string) {
	h := p.h
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "s.db")
	if err := os.WriteFile(path, m.db, 0o600); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(path+walSuffix, img, 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.nImages++
	h.mu.Unlock()
	failed := false
	fail := func(cat, detail string) {
		failed = true
		h.fail(cat, what+": "+detail)
	}
	defer func() {
		if failed && h.keep != "" {
			p.keepImage(m, img, what)
		}
	}()
	// Read-only first (it changes nothing): the same writes.
	if ro, err := Open(path, Options{ReadOnly: true}); err == nil {
		p.checkStore(ro, m.tick, false, func(cat, detail string) { fail("read-only: "+cat, detail) })
		if err := ro.Close(); err != nil {
			fail("read-only: Close failed", err.Error())
		}
	} else {
		fail("read-only: Open refused the image", err.Error())
	}
	s, err := Open(path, Options{})
	if err != nil {
		// A bad record followed by valid ones is a power cut's when each
		// of them was written before it was durable (the scan drops them;
		// no record a caller waited for is among them): refused, before
		// the thirteenth session, in about one image of four.
		fail("Open refused the image", err.Error())
		return
	}
	p.checkStore(s, m.tick, true, fail)
	// The store goes on from the cut: a write, Close, and Open again keep
	// that write and everything the image held.
	ctx := context.Background()
	id, err := s.Save(ctx, "after-cut", map[string]any{"n": 1}, Metadata{"tok": "after-cut"})
	if err != nil {
		fail("a Save after the cut failed", err.Error())
	}
	if err := s.Close(); err != nil {
		fail("Close failed", err.Error())
		return
	}
	if s, err = Open(path, Options{}); err != nil {
		fail("Open refused the store after a write and a Close", err.Error())
		return
	}
	defer s.Close()
	if id != "" {
		if _, err := s.Load(ctx, "after-cut", id); err != nil {
			fail("the write after the cut is lost by Close and Open", err.Error())
		}
	}
	p.checkStore(s, m.tick, true, func(cat, detail string) { fail("after a write, Close and Open: "+cat, detail) })
}

func (p *pcutRun) keepImage(m *pcutMoment, img []byte, what string) {
	h := p.h
	h.mu.Lock()
	n := len(h.fails) + h.nImages
	h.mu.Unlock()
	dir := filepath.Join(h.keep, fmt.Sprintf("seed%d-%d", p.seed, n))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.t.Error(err)
		return
	}
	for name, b := range map[string][]byte{"s.db": m.db, "s.db-wal": img, "synced-wal": m.synced, "current-wal": m.log, "what": []byte(what + "\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			h.t.Error(err)
		}
	}
}

// checkStore checks an opened image of the moment at tick at.
func (p *pcutRun) checkStore(s *Store, at int64, verify bool, fail func(cat, detail string)) {
	ctx := context.Background()
	byTok := map[string]*pcutWrite{}
	for _, w := range p.writes {
		byTok[w.tok] = w
	}
	byID := map[string]*pcutWrite{}
	for _, w := range p.writes {
		if w.err == nil && w.kind != pcutWrites {
			byID[w.id] = w
		}
	}
	// mayBeGone: retention may have removed w (or w's checkpoint) by the
	// moment: a GC or Prune of its thread began before it while a newer
	// checkpoint of its thread and namespace had been sent (retention
	// never removes the newest).
	mayBeGone := func(w *pcutWrite) bool {
		c := w
		if w.kind == pcutWrites {
			if c = byID[w.id]; c == nil {
				return false
			}
		}
		for _, d := range p.deletes {
			if d.start >= at || (d.thread != "" && d.thread != c.thread) {
				continue
			}
			for _, n := range p.writes {
				if n.err == nil && n.kind != pcutWrites && n.thread == c.thread && n.ns == c.ns && n.start > c.start && n.start < d.end {
					return true
				}
			}
		}
		return false
	}
	// Every checkpoint and task in the image: written by a call that
	// returned nil, whole.
	present := map[string]bool{}
	for tp, err := range s.List(ctx, ListOptions{}) {
		if err != nil {
			fail("List failed", err.Error())
			break
		}
		tok, _ := tp.Metadata["tok"].(string)
		if tok == "after-cut" {
			continue
		}
		w := byTok[tok]
		switch {
		case w == nil || w.kind == pcutWrites:
			fail("a checkpoint no call wrote", fmt.Sprintf("%s %q %s, metadata %v", tp.Config.ThreadID, tp.Config.CheckpointNS, tp.Config.CheckpointID, tp.Metadata))
			continue
		case w.err != nil:
			fail("a write that returned an error is visible", fmt.Sprintf("%s %s (%v): checkpoint %s", w.thread, w.tok, w.err, tp.Config.CheckpointID))
			continue
		}
		present[tok] = true
		if d := pcutDiff(w, tp); d != "" {
			fail("a checkpoint differs from what was written", fmt.Sprintf("%s %s (%v, durable %v): %s", w.thread, w.tok, w.dur, w.durable != 0 && w.durable < at, d))
		}
		tasks := map[string][]PendingWrite{}
		for _, pw := range tp.PendingWrites {
			tasks[pw.TaskID] = append(tasks[pw.TaskID], pw)
		}
		for task, got := range tasks {
			w := byTok[task]
			switch {
			case w == nil || w.kind != pcutWrites:
				fail("pending writes no call wrote", fmt.Sprintf("task %q on %s", task, tp.Config.CheckpointID))
			case w.err != nil:
				fail("a write that returned an error is visible", fmt.Sprintf("%s %s (%v): pending writes on %s", w.thread, w.tok, w.err, tp.Config.CheckpointID))
			case w.id != tp.Config.CheckpointID:
				fail("pending writes on the wrong checkpoint", fmt.Sprintf("task %s on %s, written to %s", task, tp.Config.CheckpointID, w.id))
			default:
				present[task] = true
				if d := pcutWritesDiff(w, got); d != "" {
					fail("pending writes differ from what was written", fmt.Sprintf("%s %s: %s", w.thread, w.tok, d))
				}
			}
		}
	}
	// Every write acknowledged as durable before the moment is there
	// (unless retention may have removed it); no thread holds a later
	// write without an earlier one that returned nil.
	last := map[string]int{} // thread: the last present write's index
	for i, w := range p.writes {
		if w.err == nil && present[w.tok] {
			last[w.thread] = i
		}
	}
	h := p.h
	for i, w := range p.writes {
		acked := w.err == nil && w.durable != 0 && w.durable < at
		if acked {
			h.mu.Lock()
			h.nChecked++
			h.mu.Unlock()
		}
		if w.err != nil || present[w.tok] {
			continue
		}
		if acked {
			if !mayBeGone(w) {
				how := "a Sync write"
				if w.dur != Sync {
					how = fmt.Sprintf("a %v write covered by a Flush, ApplyLog or Sync write that returned nil", w.dur)
				}
				fail("an acknowledged write is missing", fmt.Sprintf("%s: %s %s %q (checkpoint %s), returned at tick %d, durable at %d, the moment %d",
					how, w.thread, w.tok, w.ns, w.id, w.end, w.durable, at))
				continue
			}
		}
		if j, ok := last[w.thread]; ok && j > i && !mayBeGone(w) {
			fail("a later write without an earlier one", fmt.Sprintf("%s: %s (%v) missing, %s present", w.thread, w.tok, w.dur, p.writes[j].tok))
		}
	}
	if !verify {
		return
	}
	rep, err := s.Verify(ctx, VerifyOptions{})
	if err != nil {
		fail("Verify failed", err.Error())
	} else if !rep.OK() {
		var ps []string
		for _, pr := range rep.Problems {
			ps = append(ps, pr.String())
		}
		fail("Verify reports problems", strings.Join(ps, "; "))
	}
}

// pcutDiff compares a checkpoint read back with the write that stored it.
func pcutDiff(w *pcutWrite, tp *Tuple) string {
	if w.id != "" && tp.Config.CheckpointID != w.id {
		return fmt.Sprintf("id %s, written as %s", tp.Config.CheckpointID, w.id)
	}
	if tp.Config.ThreadID != w.thread || tp.Config.CheckpointNS != w.ns {
		return fmt.Sprintf("in %s %q, written to %s %q", tp.Config.ThreadID, tp.Config.CheckpointNS, w.thread, w.ns)
	}
	parent := ""
	if tp.ParentConfig != nil {
		parent = tp.ParentConfig.CheckpointID
	}
	if parent != w.parent {
		return fmt.Sprintf("parent %q, want %q", parent, w.parent)
	}
	if len(tp.Checkpoint.ChannelValues) != len(w.state) {
		return fmt.Sprintf("%d channels, want %d", len(tp.Checkpoint.ChannelValues), len(w.state))
	}
	for ch, want := range w.state {
		raw, ok := tp.Checkpoint.ChannelValues[ch].(Raw)
		if !ok {
			return fmt.Sprintf("channel %q missing", ch)
		}
		got := reflect.New(reflect.TypeOf(want))
		if err := raw.Decode(got.Interface()); err != nil {
			return fmt.Sprintf("channel %q: %v", ch, err)
		}
		if !reflect.DeepEqual(got.Elem().Interface(), want) {
			return fmt.Sprintf("channel %q differs", ch)
		}
	}
	return ""
}

func pcutWritesDiff(w *pcutWrite, got []PendingWrite) string {
	if len(got) != len(w.writes) {
		return fmt.Sprintf("%d writes, want %d", len(got), len(w.writes))
	}
	slices.SortFunc(got, func(a, b PendingWrite) int { return a.Idx - b.Idx })
	for i, pw := range got {
		var v string
		if err := pw.Value.Decode(&v); err != nil {
			return fmt.Sprintf("write %d: %v", i, err)
		}
		if pw.Idx != i || pw.Channel != w.writes[i].Channel || v != w.writes[i].Value {
			return fmt.Sprintf("write %d differs", i)
		}
	}
	return ""
}
